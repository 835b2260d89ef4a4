"""The reduce step's merge: chunk tables into one id-sorted table, block by block, against pandas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from featurize_lambda.core import merge
from featurize_lambda.core.merge import merge_sorted


def chunks(ids_per_chunk: list[list], columns: list[str], seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = []
    for ids in ids_per_chunk:
        values = rng.normal(size=(len(ids), len(columns)))
        values[rng.random(values.shape) < 0.1] = np.nan
        frames.append(pd.DataFrame(values, index=pd.Index(ids, name="id"), columns=columns))
    return frames


def merged_frame(frames: list[pd.DataFrame], column_id: str = "id") -> pd.DataFrame:
    result = merge_sorted(frames, column_id)
    table = pa.concat_tables(list(result.blocks)) if result.ids else result.schema.empty_table()
    assert table.schema == result.schema and table.num_rows == result.ids
    return table.to_pandas()


def oracle(frames: list[pd.DataFrame], column_id: str = "id") -> pd.DataFrame:
    return pd.concat(frames).sort_index(kind="stable").reset_index(names=column_id)


@pytest.mark.parametrize("block_values", [1, 7, 1 << 20])
@pytest.mark.parametrize("kind", ["int", "str"])
def test_equals_concat_and_sort_for_any_block_size(monkeypatch, block_values, kind):
    monkeypatch.setattr(merge, "BLOCK_VALUES", block_values)
    rng = np.random.default_rng(3)
    ids = rng.permutation(200)
    parts = [list(ids[a:b]) for a, b in [(0, 50), (50, 51), (51, 130), (130, 200)]]
    if kind == "str":
        parts = [[f"s{i:04d}" for i in part] for part in parts]
    frames = chunks(parts, ["x__mean", "x__maximum", "y__mean"])
    got, want = merged_frame(frames, "sensor"), oracle(frames, "sensor")
    assert list(got.columns) == ["sensor", "x__mean", "x__maximum", "y__mean"]
    assert got["sensor"].tolist() == want["sensor"].tolist()
    np.testing.assert_array_equal(got.iloc[:, 1:].to_numpy(), want.iloc[:, 1:].to_numpy())  # NaN equal


def test_chunks_with_different_columns_get_the_union_in_order_of_appearance():
    frames = chunks([[3, 1], [2]], ["a", "b"]) + chunks([[5, 4]], ["a", "c"], seed=1)
    got, want = merged_frame(frames), oracle(frames)
    assert list(got.columns) == list(want.columns) == ["id", "a", "b", "c"]
    np.testing.assert_array_equal(got.to_numpy(dtype=float), want.to_numpy(dtype=float))


def test_missing_values_are_nulls_as_from_pandas_writes_them():
    frames = [pd.DataFrame({"a": [np.nan, 1.5]}, index=pd.Index([2, 1], name="id"))]
    table = pa.concat_tables(list(merge_sorted(frames, "id").blocks))
    assert table.column("a").to_pylist() == [1.5, None]


def test_an_id_in_two_chunks_is_named():
    with pytest.raises(ValueError, match="id 's7' appears in two chunks"):
        merge_sorted(chunks([["s1", "s7"], ["s7"]], ["a"]), "id")


def test_no_chunks_give_an_empty_table_with_the_id_column():
    assert merged_frame([]).columns.tolist() == ["id"]


@pytest.mark.parametrize("block_values", [5, 1 << 20])
def test_impute_over_the_whole_output_equals_tsfresh_impute(monkeypatch, block_values):
    """Imputed block by block with ranges of the whole table: tsfresh's impute of the concatenated frame."""
    from tsfresh.utilities.dataframe_functions import impute

    monkeypatch.setattr(merge, "BLOCK_VALUES", block_values)
    frames = chunks([[7, 2, 9], [4, 1], [8, 3, 6, 5]], ["a", "b", "c", "d"], seed=4)
    frames[0].iloc[0, 0], frames[1].iloc[1, 0], frames[2].iloc[2, 1] = np.inf, -np.inf, np.inf
    frames[1]["c"] = np.nan  # a chunk without a value where others have some
    for frame in frames:
        frame["d"] = [np.nan, np.inf][: len(frame)] + [np.nan] * (len(frame) - 2)  # no finite value at all
    frames.append(pd.DataFrame({"a": [0.5], "e": [np.nan]}, index=pd.Index([10], name="id")))  # a new column
    result = merge_sorted(frames, "id", impute=True)
    table = pa.concat_tables(list(result.blocks)).to_pandas().set_index("id")
    expected = impute(pd.concat(frames).sort_index(kind="stable"))
    assert list(table.columns) == list(expected.columns) and table.index.tolist() == expected.index.tolist()
    assert np.isfinite(table.to_numpy()).all()
    np.testing.assert_allclose(table.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=0)
    assert (table["d"] == 0).all() and (table["e"] == 0).all()
    # and the unimputed merge still keeps NaN and inf as they were
    plain = pa.concat_tables(list(merge_sorted(frames, "id").blocks)).to_pandas().set_index("id")
    raw = pd.concat(frames).sort_index(kind="stable")
    assert np.isinf(raw.to_numpy()).sum() == 6 and raw["c"].isna().sum() >= 2
    np.testing.assert_array_equal(plain.to_numpy(), raw.to_numpy())  # NaN and inf kept
