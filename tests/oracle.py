"""tsfresh as the oracle, calculator by calculator (one series at a time, as tsfresh computes)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from tsfresh.feature_extraction import feature_calculators as fc

from featurize_lambda.core.registry import output_format

#: Default relative tolerance; a calculator registered with a looser ``rtol`` (only where tsfresh's
#: dependency is iterative or approximate, at most 1e-6, stated in the README) is held to that.
RTOL = 1e-9
ATOL = 1e-12


def tsfresh_values(name: str, x: np.ndarray, params: list[dict] | None) -> list[tuple[str, float]]:
    """What tsfresh's ``extract_features`` would compute for one series: ``[(suffix, value), ...]``.

    A calculator that raises (tsfresh on an empty series, say) gives None for every value.
    """
    function = getattr(fc, name)
    series = pd.Series(x) if getattr(function, "input", None) == "pd.Series" else x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if getattr(function, "fctype", None) == "combiner":
            try:
                return [(str(k), v) for k, v in function(series, param=params)]
            except Exception:  # noqa: BLE001
                return None
        if params:
            out = []
            for param in params:
                try:
                    out.append((output_format(param), function(series, **param)))
                except Exception:  # noqa: BLE001
                    out.append((output_format(param), None))
            return out
        try:
            return [("", function(series))]
        except Exception:  # noqa: BLE001
            return [("", None)]


def as_float(value) -> float:
    if value is None:
        return np.nan
    return float(value)


def assert_matches_tsfresh(name: str, series: dict[str, np.ndarray], params: list[dict] | None) -> None:
    """featurize on all ``series`` at once vs tsfresh on each alone, at the calculator's registered tolerance.

    Where tsfresh raises for the whole combiner, featurize must give NaN for every value.
    """
    from featurize_lambda.core.registry import REGISTRY, compute
    from featurize_lambda.core.segments import Segments

    ours = compute(REGISTRY[name], Segments.from_series(list(series.values())), params)
    rtol = REGISTRY[name].rtol
    for index, (label, x) in enumerate(series.items()):
        expected = tsfresh_values(name, x, params)
        got = [(suffix, values[index]) for suffix, values in ours]
        if expected is None:
            assert all(np.isnan(v) for _, v in got), (name, label, got)
            continue
        assert [s for s, _ in got] == [s for s, _ in expected], (name, label)
        want = np.array([as_float(v) for _, v in expected])
        have = np.array([v for _, v in got])
        np.testing.assert_allclose(have, want, rtol=rtol, atol=ATOL, equal_nan=True, err_msg=f"{name} on {label}")
