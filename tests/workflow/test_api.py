"""`featurize.extract_features` is tsfresh's call: same arguments, same DataFrame."""

from __future__ import annotations

import os

import boto3
import numpy as np
import pandas as pd
import pytest
from tsfresh import extract_features as tsfresh_extract
from tsfresh.feature_extraction import MinimalFCParameters
from tsfresh.utilities.dataframe_functions import impute

import featurize
from featurize import api

from ..conftest import make_long


@pytest.fixture(scope="module", autouse=True)
def one_engine_per_module():
    yield
    api.shutdown()  # other modules start engines of their own in this process


def both(frame, **kwargs):
    kwargs.setdefault("default_fc_parameters", MinimalFCParameters())
    ours = featurize.extract_features(frame, disable_progressbar=True, **kwargs)
    theirs = tsfresh_extract(frame, disable_progressbar=True, n_jobs=0, **kwargs)
    return ours, theirs


def assert_same(ours: pd.DataFrame, theirs: pd.DataFrame) -> None:
    pd.testing.assert_index_equal(ours.index, theirs.index, exact=True)
    assert list(ours.columns) == list(theirs.columns)
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=1e-9, atol=0, equal_nan=True)


def test_long_format():
    frame = make_long(n_ids=12, seed=1)
    frame["id"] = frame["id"].str[1:].astype(int)  # integer ids: the index dtype must match too
    assert_same(*both(frame, column_id="id", column_sort="time", column_value="value"))


def test_long_format_with_kinds_and_per_kind_settings():
    frame = make_long(n_ids=9, kinds=("b", "a"), seed=2)
    kwargs = dict(column_id="id", column_sort="time", column_kind="kind", column_value="value")
    assert_same(*both(frame, **kwargs))
    per_kind = {"a": {"mean": None, "maximum": None}}
    assert_same(*both(frame, default_fc_parameters={"length": None}, kind_to_fc_parameters=per_kind, **kwargs))


def test_wide_format_without_sort():
    frame = make_long(n_ids=7, seed=3).drop(columns="time").rename(columns={"value": "x"})
    frame["y"] = frame["x"].abs()
    assert_same(*both(frame, column_id="id"))


def test_impute_function_and_pivot_false():
    frame = make_long(n_ids=5, kinds=("a", "b"), seed=4)
    frame = frame[~((frame["id"] == "s001") & (frame["kind"] == "b"))]  # a missing kind: NaN to impute
    kwargs = dict(column_id="id", column_sort="time", column_kind="kind", column_value="value")
    ours, theirs = both(frame, impute_function=impute, **kwargs)
    assert not ours.isna().any().any()
    assert_same(ours, theirs)
    long = featurize.extract_features(frame, MinimalFCParameters(), pivot=False, disable_progressbar=True, **kwargs)
    expected = tsfresh_extract(frame, MinimalFCParameters(), pivot=False, disable_progressbar=True, n_jobs=0, **kwargs)
    got = {(i, name): value for i, name, value in long}
    want = {(i, name): value for i, name, value in expected}
    assert set(got) >= set(want)  # tsfresh leaves out the absent (id, kind) pair; featurize has it as NaN
    np.testing.assert_allclose([got[k] for k in want], [want[k] for k in want], rtol=1e-9)
    assert all(np.isnan(got[k]) for k in set(got) - set(want))


def test_two_calls_share_one_engine_and_leave_boto3_alone():
    frame = make_long(n_ids=3, seed=5)
    featurize.extract_features(frame, MinimalFCParameters(), column_id="id", disable_progressbar=True)
    first = api.local_engine()
    featurize.extract_features(frame, MinimalFCParameters(), column_id="id", disable_progressbar=True)
    assert api.local_engine() is first and first.endpoint_url == api.local_engine().endpoint_url
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert boto3.client("s3", region_name="us-east-1").meta.endpoint_url == "https://s3.amazonaws.com"


def test_bad_arguments_and_bad_input_raise_input_error():
    frame = make_long(n_ids=3, seed=6)
    with pytest.raises(featurize.InputError, match="You have to set the column_id"):
        featurize.extract_features(frame, MinimalFCParameters())
    with pytest.raises(ValueError, match="unknown feature calculator 'meen'"):
        featurize.extract_features(frame, {"meen": None}, column_id="id")
    with pytest.raises(featurize.InputError, match="sort column 'timestamp' is not in the input"):
        featurize.extract_features(frame, MinimalFCParameters(), column_id="id", column_sort="timestamp",
                                   disable_progressbar=True)  # fmt: skip


def test_run_returns_a_small_result_and_downloads_a_local_output(tmp_path):
    frame = make_long(n_ids=6, seed=7)
    result = featurize.run(frame, tmp_path / "f.csv", chunk_size=2, progress=False)
    assert (result.ids, result.rows, result.features, result.chunks) == (6, len(frame), 10, 3)
    assert result.output.startswith("s3://featurize-local/outputs/") and result.output.endswith("/f.csv")
    table = pd.read_csv(result.local_output).set_index("id")
    theirs = tsfresh_extract(frame, MinimalFCParameters(), column_id="id", column_sort="time",
                             disable_progressbar=True, n_jobs=0)  # fmt: skip
    np.testing.assert_allclose(table.to_numpy(), theirs.to_numpy(), rtol=1e-9)
    assert result.execution_arn.startswith("arn:aws:states:") and result.seconds > 0
