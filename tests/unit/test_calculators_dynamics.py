"""Dynamics calculators beyond the generic grid: other parameters, longer and awkward series, helpers.

The generic suite (``tests/unit/test_calculators.py``) checks the comprehensive grid on the standard
series; here the same oracle (tsfresh, one series at a time) meets parameters outside the grid,
mixed lengths (the lexsort/bincount paths), long series (statsmodels' FFT path, large degrees of
freedom), ties and NaN, and the numerical helpers are checked against scipy.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from scipy import special, stats

from featurize_lambda.core.calculators.dynamics import _shared, trends
from featurize_lambda.core.registry import REGISTRY, compute
from featurize_lambda.core.segments import Segments

from ..oracle import ATOL, RTOL, as_float, tsfresh_values


@pytest.fixture
def rng(request) -> np.random.Generator:
    """Each test's own generator, seeded from its name: its data do not depend on which tests ran before."""
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def _mixed_series(rng: np.random.Generator, count: int = 60, low: int = 0, high: int = 160) -> list[np.ndarray]:
    """Series of many lengths and kinds: noise, offsets, ties, NaN, sorted (pandas' sorted-groups path)."""
    out = []
    for i in range(count):
        n = int(rng.integers(low, high))
        kind = i % 10
        if kind == 0:
            x = rng.normal(size=n)
        elif kind == 1:
            x = 1000 + 0.01 * rng.normal(size=n)
        elif kind == 2:
            x = rng.integers(0, 5, n).astype(np.float64)
        elif kind == 3:
            x = np.cumsum(rng.normal(size=n))
        elif kind == 4:
            x = rng.normal(size=n) * 1e12
        elif kind == 5:
            x = np.round(rng.normal(size=n), 1)
        elif kind == 6:
            x = rng.normal(size=n)
            x[rng.random(n) < 0.1] = np.nan
        elif kind == 7:
            x = np.sort(rng.normal(size=n))
        elif kind == 8:
            x = np.arange(n) * 0.37 + 1e5
        else:
            x = np.sin(np.arange(n) * 0.2) + 1e-3 * rng.normal(size=n)
        out.append(x)
    return out


def _check(name: str, series: list[np.ndarray], params, rtol: float = RTOL, atol: float = ATOL) -> None:
    ours = compute(REGISTRY[name], Segments.from_series(series), params)
    for index, x in enumerate(series):
        expected = tsfresh_values(name, x, params)
        got = [(suffix, values[index]) for suffix, values in ours]
        if expected is None:
            assert all(np.isnan(v) for _, v in got), (name, index, got)
            continue
        assert [s for s, _ in got] == [s for s, _ in expected], name
        want = np.array([as_float(v) for _, v in expected])
        have = np.array([v for _, v in got])
        np.testing.assert_allclose(have, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=f"{name} #{index}")


# -- lag statistics --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("time_reversal_asymmetry_statistic", [{"lag": lag} for lag in (0, 1, 4, 7, 30, 200)]),
        ("c3", [{"lag": lag} for lag in (0, 1, 4, 7, 30, 200)]),
        ("cid_ce", [{"normalize": True}, {"normalize": False}]),
        ("autocorrelation", [{"lag": lag} for lag in (0, 1, 5, 50, 159, 160, 500)]),
        ("number_peaks", [{"n": n} for n in (0, 1, 2, 7, 40, 100)]),
    ],
)
def test_lag_statistics_on_mixed_lengths(rng, name, params):
    _check(name, _mixed_series(rng), params)


@pytest.mark.parametrize(
    "params",
    [
        [{"f_agg": f, "maxlag": lag} for f in ("mean", "median", "var", "std", "max") for lag in (1, 5, 40)],
        [{"f_agg": "mean", "maxlag": 0}],
        [{"f_agg": "no_such_numpy_function", "maxlag": 3}],
    ],
)
def test_agg_autocorrelation_other_parameters(rng, params):
    _check("agg_autocorrelation", _mixed_series(rng), params)


def test_agg_autocorrelation_above_statsmodels_fft_threshold(rng):
    """statsmodels switches to an FFT above 1250 values; the direct sums agree to rounding."""
    series = [rng.normal(size=3000), np.cumsum(rng.normal(size=1251)), rng.normal(size=1250), np.full(2000, 3.0)]
    _check("agg_autocorrelation", series, [{"f_agg": f, "maxlag": 40} for f in ("mean", "median", "var")])


def test_near_constant_series_thresholds(rng):
    """Variance thresholds are absolute (1e-8 for autocorrelation, 1e-10 for agg_autocorrelation)."""
    series = [4.0 + 1e-6 * rng.normal(size=50), 0.1 + 1e-4 * rng.normal(size=50), np.full(30, 0.1)]
    _check("autocorrelation", series, [{"lag": lag} for lag in range(4)])
    _check("agg_autocorrelation", series, [{"f_agg": "mean", "maxlag": 10}])
    _check("cid_ce", series, [{"normalize": True}, {"normalize": False}])


# -- spectra ---------------------------------------------------------------------------------------


def test_fft_coefficient_mixed_lengths_and_high_coefficients(rng):
    params = [{"coeff": c, "attr": a} for a in ("real", "imag", "abs", "angle") for c in (0, 1, 3, 40, 79, 80, 500)]
    _check("fft_coefficient", _mixed_series(rng), params)


def test_fft_coefficient_invalid_parameters_give_nan_like_tsfresh_raising(rng):
    series = _mixed_series(rng, 8)
    _check("fft_coefficient", series, [{"coeff": -1, "attr": "real"}, {"coeff": 1, "attr": "real"}])
    _check("fft_coefficient", series, [{"coeff": 1, "attr": "phase"}])


def test_fft_aggregated_mixed_lengths(rng):
    params = [{"aggtype": a} for a in ("centroid", "variance", "skew", "kurtosis")]
    _check("fft_aggregated", _mixed_series(rng), params)


# -- trends ----------------------------------------------------------------------------------------


def test_linear_trend_every_attribute_on_mixed_lengths(rng):
    params = [{"attr": a} for a in ("pvalue", "rvalue", "intercept", "slope", "stderr", "intercept_stderr")]
    _check("linear_trend", _mixed_series(rng), params)


def test_linear_trend_pvalue_on_long_series(rng):
    """Many degrees of freedom: the series/BGRAT branches of the t distribution."""
    n = 200_000
    trend = np.arange(n, dtype=float)
    series = [
        rng.normal(size=n),
        rng.normal(size=n) + 1e-6 * trend,
        rng.normal(size=n) + 3e-6 * trend,
        rng.normal(size=n) + 1e-4 * trend,
        rng.normal(size=5000),
    ]
    fitted = trends._linregress(Segments.from_series(series), {"pvalue", "stderr"})
    for index, x in enumerate(series):
        expected = stats.linregress(np.arange(len(x)), x)
        np.testing.assert_allclose(fitted["pvalue"][index], expected.pvalue, rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(fitted["stderr"][index], expected.stderr, rtol=1e-9)


def test_agg_linear_trend_other_aggregates_and_chunks(rng):
    params = [
        {"attr": attr, "chunk_len": chunk, "f_agg": f}
        for attr in ("rvalue", "intercept", "slope", "stderr", "pvalue")
        for chunk in (1, 3, 7, 64)
        for f in ("max", "min", "mean", "var", "std", "sum")
    ]
    _check("agg_linear_trend", _mixed_series(rng), params)


def test_agg_linear_trend_unknown_aggregate_is_nan_like_tsfresh_raising(rng):
    _check("agg_linear_trend", _mixed_series(rng, 6), [{"attr": "slope", "chunk_len": 2, "f_agg": "median"}])


def test_energy_ratio_by_chunks_more_chunks_than_values_and_negative_focus(rng):
    params = [{"num_segments": k, "segment_focus": f} for k in (1, 3, 7, 200) for f in (0, 1, k - 1, -1) if f < k]
    _check("energy_ratio_by_chunks", _mixed_series(rng), params)
    _check("energy_ratio_by_chunks", _mixed_series(rng, 5), [{"num_segments": 3, "segment_focus": 3}])
    _check("energy_ratio_by_chunks", _mixed_series(rng, 5), [{"num_segments": 3, "segment_focus": -4}])


# -- Langevin model: to 1e-12, also on ill-conditioned fits --------------------------------------


FRIEDRICH_PARAMS = [
    {"coeff": c, "m": m, "r": r} for m, r in ((3, 30), (2, 10), (5, 7), (3, 1), (1, 3)) for c in range(m + 2)
]


@pytest.mark.parametrize("equal_lengths", [False, True])
def test_friedrich_coefficients_match_tsfresh_to_1e_12(rng, equal_lengths):
    """Same bins, same pandas group sums (Kahan or pandas 3.1's reduceat), same np.polyfit: 1e-12.

    The offset series (1000 + small noise) make ill-conditioned cubic fits, where any rounding
    difference in the bin means would show; equal lengths take the row-wise sort.
    """
    series = [x[:50] for x in _mixed_series(rng, 80, 2, 400)] if equal_lengths else _mixed_series(rng, 80, 2, 400)
    if equal_lengths:
        series = [x for x in series if len(x) == 50] + [np.cumsum(rng.normal(size=50)) for _ in range(20)]
    # np.polyfit solves through LAPACK (and np.roots through an eigensolver), whose rounding is the
    # machine's: not bit for bit, but 1e-12 (1,000x tighter than the README's 1e-9) shows any
    # difference in the bin means, which these ill-conditioned fits amplify far beyond that.
    _check("friedrich_coefficients", series, FRIEDRICH_PARAMS, rtol=1e-12, atol=1e-12)
    _check("max_langevin_fixed_point", series, [{"m": 3, "r": 30}, {"m": 2, "r": 10}], rtol=1e-12, atol=1e-12)


def test_friedrich_invalid_parameters_give_nan(rng):
    series = _mixed_series(rng, 6, 20, 60)
    _check("friedrich_coefficients", series, [{"coeff": 0, "m": 3, "r": 30.0}])
    _check("friedrich_coefficients", series, [{"coeff": -1, "m": 3, "r": 30}])
    _check("max_langevin_fixed_point", series, [{"m": 3, "r": 0}])


# -- permutation entropy -----------------------------------------------------------------------------


def test_permutation_entropy_ties_nan_and_steps(rng):
    """Windows with ties take numpy's (unstable) argsort order, exactly as tsfresh's."""
    series = []
    for i in range(80):
        n = int(rng.integers(0, 120))
        x = rng.integers(0, 3 if i % 2 else 8, n).astype(np.float64)
        if i % 3 == 0:
            x[rng.random(n) < 0.1] = np.nan
        if i % 5 == 0:
            x = rng.normal(size=n)
        series.append(x)
    params = [{"tau": t, "dimension": d} for t in (1, 2, 3) for d in (2, 3, 4, 5, 7, 9)]
    _check("permutation_entropy", series, params)
    _check("permutation_entropy", series[:5], [{"tau": 0, "dimension": 3}, {"tau": 1, "dimension": 1}])


# -- numerical helpers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29, 30, 31, 100, 999, 1e4, 1e5, 1e6, 1e7])
def test_student_t_matches_scipy(rng, df):
    t = np.concatenate([[0.0, 0.5, 1.0, 1.73, 2.0, 5.0, 30.0, 1e3, 1e6, 7.07e9], rng.uniform(0, 8, 300)])
    t = np.concatenate([t, 10 ** rng.uniform(-6, 3, 300)])
    got = trends._student_t_two_sided(t, np.full(len(t), float(df)))
    want = 2 * special.stdtr(df, -t)
    if df == 1:  # scipy loses digits below |t| = 1e-4 there (see the next test): the closed form
        closed = np.where(t < 1, 1 - 2 * np.arctan(t) / np.pi, 2 * np.arctan(1 / np.maximum(t, 1e-300)) / np.pi)
        np.testing.assert_allclose(got, closed, rtol=1e-14, atol=1e-300)
        want = np.where(t < 1e-4, closed, want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_student_t_one_degree_of_freedom_tiny_t_deviation():
    """Documented deviation: scipy's stdtr(1, t) loses digits for small |t|; ours does not.

    With one degree of freedom (a 3-point series) the two-sided p-value is 1 - 2 atan(|t|) / pi.
    At t = 1e-8 scipy is 3e-9 off (relative): only a 3-point series with |r| < 1e-8 could show it.
    """
    t = np.array([1e-8, 1e-7, 1e-6])
    exact = 1 - 2 * np.arctan(t) / np.pi
    np.testing.assert_allclose(trends._student_t_two_sided(t, np.ones(3)), exact, rtol=1e-15)
    assert abs(2 * special.stdtr(1, -1e-8) - exact[0]) > 1e-9


def test_regularized_beta_matches_scipy(rng):
    a = np.concatenate([rng.uniform(0.5, 15, 200), np.full(50, 0.5)])
    b = np.concatenate([np.full(200, 0.5), rng.uniform(0.5, 15, 50)])
    x = rng.uniform(0, 1, 250)
    with np.errstate(divide="ignore"):
        got = trends._regularized_beta(a, b, x, 1 - x, np.log(x), np.log1p(-x))
    np.testing.assert_allclose(got, special.betainc(a, b, x), rtol=1e-12, atol=1e-300)


def test_lag_helpers_ignore_pairs_across_series():
    series = [np.arange(5.0), np.array([]), np.array([7.0]), np.arange(3.0) * 10]
    s = Segments.from_series(series)
    total, count = _shared._head_sums(s, s.values[:-1] * s.values[1:], 1)
    np.testing.assert_array_equal(count, [4, 0, 0, 2])
    np.testing.assert_array_equal(total, [0 + 2 + 6 + 12, 0, 0, 0 + 200])


def test_parametrized_calls_share_intermediates_without_leaking_between_segments(rng):
    first = Segments.from_series([rng.normal(size=30)])
    second = Segments.from_series([rng.normal(size=30)])
    a = REGISTRY["autocorrelation"].compute(first, [{"lag": 1}])[0][1]
    b = REGISTRY["autocorrelation"].compute(second, [{"lag": 1}])[0][1]
    assert a[0] != b[0]
    assert a[0] == REGISTRY["autocorrelation"].compute(first, [{"lag": 1}])[0][1][0]
