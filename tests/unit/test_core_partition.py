"""Input validation and chunking (the pure part of the partition step)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from featurize_lambda.core.partition import Columns, chunk_bounds, normalize
from featurize_lambda.errors import InputError

from ..conftest import make_long

LONG = Columns(id="id", sort="time", value="value", kind=None)


def test_long_format_is_sorted_by_id_then_time():
    frame = make_long(n_ids=5, n_points=6, seed=3)
    normalized = normalize(frame, LONG)
    expected = frame.sort_values(["id", "time"])
    assert normalized.frame["id"].tolist() == expected["id"].tolist()
    assert normalized.frame["value"].tolist() == expected["value"].tolist()
    assert normalized.kinds == ["value"]
    assert set(normalized.frame["kind"]) == {"value"}


def test_kind_column_gives_sorted_kinds():
    frame = make_long(n_ids=3, kinds=("z", "a"), seed=4)
    normalized = normalize(frame, Columns(id="id", sort="time", value="value", kind="kind"))
    assert normalized.kinds == ["a", "z"]
    assert normalized.frame.groupby(["id", "kind"], observed=True).size().sum() == len(frame)


def test_wide_format_without_value_column_uses_numeric_columns_in_file_order():
    frame = pd.DataFrame({"id": [1, 1, 2], "time": [1, 0, 0], "b": [1.0, 2, 3], "a": [4, 5, 6], "tag": list("xyz")})
    normalized = normalize(frame, LONG)
    assert normalized.kinds == ["b", "a"]
    assert any("'tag'" in note for note in normalized.notes)
    b = normalized.frame[normalized.frame["kind"] == "b"]
    assert b["value"].tolist() == [2.0, 1.0, 3.0]  # id 1 sorted by time


def test_absent_default_sort_column_means_row_order_with_a_note():
    frame = pd.DataFrame({"id": [1, 1, 1], "value": [3.0, 1.0, 2.0]})
    normalized = normalize(frame, LONG)
    assert normalized.frame["value"].tolist() == [3.0, 1.0, 2.0]
    assert "row order" in normalized.notes[0]


def test_absent_explicit_sort_column_is_an_error_with_a_suggestion():
    frame = pd.DataFrame({"id": [1], "timestamp": [0], "value": [1.0]})
    with pytest.raises(InputError, match="sort column 'timestam' .* did you mean 'timestamp'"):
        normalize(frame, Columns(id="id", sort="timestam", value="value", kind=None, sort_explicit=True))


@pytest.mark.parametrize(
    ("frame", "columns", "message"),
    [
        (pd.DataFrame({"ident": [1], "value": [1.0]}), LONG, "id column 'id' is not in the input"),
        (pd.DataFrame({"id": [1], "value": ["x"]}), LONG, "column 'value' must be numeric: 1 row"),
        (pd.DataFrame({"id": [1, None], "value": [1.0, 2.0]}), LONG, "null value"),
        (
            pd.DataFrame({"id": [1], "v": [1.0]}),
            Columns(id="id", sort=None, value="value", kind=None, value_explicit=True),
            "value column 'value'",
        ),
        (pd.DataFrame({"id": [1], "value": [1.0]}), Columns(id="id", sort=None, value="value", kind="k"), "kind"),
        (pd.DataFrame({"id": [1], "name": ["x"]}), LONG, "no numeric columns"),
    ],
)
def test_bad_input_is_an_input_error(frame, columns, message):
    with pytest.raises(InputError, match=message):
        normalize(frame, columns)


@pytest.mark.parametrize("chunk_size", [1, 2, 7, 100, None])
def test_chunks_hold_whole_ids(chunk_size):
    ids = np.repeat(np.arange(23), np.arange(1, 24))
    starts = np.flatnonzero(np.diff(ids, prepend=-1))
    bounds = chunk_bounds(starts, len(ids), chunk_size, target_rows=40, max_rows=len(ids))
    assert bounds[0][0] == 0 and bounds[-1][1] == len(ids)
    for (_, stop, _), (next_start, _, _) in zip(bounds, bounds[1:], strict=False):
        assert stop == next_start
        assert ids[stop - 1] != ids[next_start]  # an id never spans two chunks
    per_chunk = [len(np.unique(ids[a:b])) for a, b, _ in bounds]
    assert per_chunk == [n for _, _, n in bounds] and sum(per_chunk) == 23
    if chunk_size is not None:
        assert all(n == chunk_size for n in per_chunk[:-1]) and per_chunk[-1] <= chunk_size
    else:  # at least the target, less than the target plus the last id's rows
        assert all(40 <= b - a < 40 + 23 for a, b, _ in bounds[:-1])


def test_chunks_of_several_ids_stay_within_max_rows_and_a_long_id_is_alone():
    lengths = np.array([5, 5, 50, 5, 5, 5])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for chunk_size in (None, 6):
        bounds = chunk_bounds(starts, int(lengths.sum()), chunk_size, target_rows=12, max_rows=12)
        assert bounds == [(0, 10, 2), (10, 60, 1), (60, 70, 2), (70, 75, 1)]


@pytest.mark.parametrize("presorted", [True, False])
def test_sorted_input_skips_the_sort_and_gives_the_same_frame(presorted):
    frame = make_long(n_ids=6, seed=9)
    frame["id"] = frame["id"].str[1:].astype(int)
    if presorted:
        frame = frame.sort_values(["id", "time"], ignore_index=True)
    normalized = normalize(frame, LONG).frame
    expected = frame.sort_values(["id", "time"], kind="stable")
    assert normalized["id"].tolist() == expected["id"].tolist()
    assert normalized["value"].tolist() == expected["value"].tolist()


def test_is_sorted_checks_every_key():
    from featurize_lambda.core.partition.chunks import is_sorted as _is_sorted

    frame = pd.DataFrame({"id": [1, 1, 2, 2], "t": [0, 1, 0, 1]})
    assert _is_sorted(frame, ["id", "t"])
    assert not _is_sorted(frame.iloc[[0, 1, 3, 2]], ["id", "t"])
    assert not _is_sorted(frame.iloc[[2, 3, 0, 1]], ["id", "t"])
    assert not _is_sorted(frame.assign(id=["a", "a", "b", "b"]), ["id", "t"])  # strings: always sorted
