"""`featurize.extract_features` on a running engine whose features Lambda fails for chunk 1."""

from __future__ import annotations

import pytest
from tsfresh.feature_extraction import MinimalFCParameters

import featurize
from featurize.engine import LocalEngine

from ..conftest import make_long


@pytest.fixture(scope="module")
def faulty_engine():
    with LocalEngine(workers=2, handlers={"features": "tests.probe_handlers.features_failing_on_chunk_1"}) as engine:
        yield engine


def test_a_failing_chunk_raises_run_failed_with_state_chunk_and_cause(faulty_engine):
    frame = make_long(n_ids=6, seed=8)
    with pytest.raises(featurize.RunFailed) as failure:
        featurize.extract_features(frame, MinimalFCParameters(), column_id="id", column_sort="time", chunksize=2,
                                   endpoint=faulty_engine.endpoint_url, disable_progressbar=True)  # fmt: skip
    assert failure.value.error == "ChunkFailed" and failure.value.state == "Reduce"
    assert failure.value.chunks == [1]
    assert "ArithmeticError: injected failure in chunk 1" in failure.value.cause
