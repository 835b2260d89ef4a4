"""The scipy/pywt/stumpy-based calculators beyond the generic grid: many lengths, ties, offsets, NaN/inf.

Each check compares with tsfresh 0.21.2 (or the scipy/pywt routine it calls) series by series.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.signal
from tsfresh.feature_extraction import feature_calculators as fc

import featurize_lambda.core.calculators  # noqa: F401  (registers the calculators)
from featurize_lambda.core.calculators.spectral import cwt_coefficients, cwt_peaks, lempel_ziv, query_similarity, welch
from featurize_lambda.core.registry import REGISTRY, compute
from featurize_lambda.core.segments import Segments

from ..oracle import assert_matches_tsfresh


def _series(seed: int, lengths) -> list[np.ndarray]:
    """Varied series: noise, integers (ties), constants, sines, palindromes, plateaus, offsets, spikes."""
    rng = np.random.default_rng(seed)
    out = []
    for i, length in enumerate(lengths):
        kind = i % 9
        if kind == 0:
            x = rng.normal(size=length)
        elif kind == 1:
            x = rng.integers(0, 3, length).astype(float)
        elif kind == 2:
            x = np.full(length, float(rng.integers(-5, 5)))
        elif kind == 3:
            x = np.sin(np.linspace(0, rng.uniform(1, 40), length))
        elif kind == 4:
            half = rng.integers(0, 3, (length + 1) // 2).astype(float)
            x = np.concatenate([half, half[::-1]])[:length]
        elif kind == 5:
            x = np.repeat(rng.normal(size=length // 5 + 1), 5)[:length]
        elif kind == 6:
            x = np.cumsum(rng.normal(size=length)) + 1e6
        elif kind == 7:
            x = np.where(rng.random(length) > 0.9, 50.0, 0.0)
        else:
            x = rng.normal(size=length) * 1e12
        out.append(x)
    return out


LENGTHS = [*range(1, 41), 63, 64, 65, 100, 255, 256, 257, 300, 511, 513, 777, 1000, 2100]


def _compare(name: str, series: list[np.ndarray], params) -> None:
    assert_matches_tsfresh(name, {f"#{i} (len {len(x)})": x for i, x in enumerate(series)}, params)


# ------------------------------------------------------------------------------------------------
# Welch: spkt_welch_density, fourier_entropy
# ------------------------------------------------------------------------------------------------


def test_welch_matches_scipy_on_every_length():
    series = _series(1, LENGTHS)
    segments = Segments.from_series(series)
    for rows, pxx in welch._welch_blocks(segments):
        for row, values in zip(rows, pxx, strict=True):
            x = series[row]
            _, expected = scipy.signal.welch(x, nperseg=min(len(x), 256))
            np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-300 if x.max() > 0 else 0)


def test_welch_mean_over_many_slices_uses_scipys_summation_order():
    # 2,100 points: 15 slices, averaged pairwise by numpy (the < 8 sequential path is covered above)
    x = np.random.default_rng(2).normal(size=2100) + 1e3
    ((_, pxx),) = welch._welch_blocks(Segments.from_series([x]))
    _, expected = scipy.signal.welch(x, nperseg=256)
    # the same FFTs and the same pairwise mean: 1e-14 relative (an FFT's rounding is its build's, not
    # a property of this code; a different summation order of the mean shows at ~1e-13 with 15 slices)
    np.testing.assert_allclose(pxx[0], expected, rtol=1e-14, atol=0)


def test_hann_window_is_scipys():
    for m in (1, 2, 3, 7, 64, 255, 256):
        # np.cos is the platform's (SIMD, CPU-dispatched) cosine: to an ulp, not to the bit
        want = scipy.signal.get_window("hann_periodic", m)
        np.testing.assert_allclose(welch._hann_periodic(m), want, rtol=0, atol=4 * np.finfo(float).eps)


@pytest.mark.parametrize("name", ["spkt_welch_density", "fourier_entropy"])
def test_welch_calculators_on_many_lengths(name):
    params = [{"coeff": c} for c in (0, 1, 2, 5, 8, 64, 128, 129)] if name == "spkt_welch_density" else None
    params = params or [{"bins": b} for b in (1, 2, 3, 5, 10, 100)]
    series = _series(3, LENGTHS)
    series += [np.array([1.0, np.inf, 2.0, 3.0]), np.array([0.0, 0.0, 1e-300]), np.array([2.0, 2.0])]
    _compare(name, series, params)


def test_welch_is_shared_between_calls_on_one_chunk():
    segments = Segments.from_series(_series(4, [50, 50, 80]))
    assert welch._welch_blocks(segments) is welch._welch_blocks(segments)
    other = Segments(segments.values, segments.starts, segments.lengths)
    assert welch._welch_blocks(other) is not welch._welch_blocks(segments)


# ------------------------------------------------------------------------------------------------
# lempel_ziv_complexity
# ------------------------------------------------------------------------------------------------


def test_lempel_ziv_on_many_lengths_and_edge_values():
    series = _series(5, LENGTHS)
    series += [
        np.arange(20.0),  # every value on a bin edge for several bin counts
        np.linspace(0, 1, 101),
        np.array([1e12 + 1, 1e12, 1e12 + 3, 1e12 + 2]),  # a large offset with a small spread
        np.array([1.0, np.nan, 3.0]),
        np.array([-np.inf, 1.0, 2.0]),
    ]
    _compare("lempel_ziv_complexity", series, [{"bins": b} for b in (1, 2, 3, 5, 7, 10, 100, 300)])


def test_lempel_ziv_binning_equals_searchsorted():
    rng = np.random.default_rng(6)
    series = [rng.integers(0, 10, 200).astype(float), rng.normal(size=300), np.linspace(-1, 1, 77), np.full(5, 3.0)]
    segments = Segments.from_series(series)
    for bins in (1, 2, 3, 10, 33, 100):
        symbols = lempel_ziv._lz_symbols(segments, bins)
        for i, x in enumerate(series):
            edges = np.linspace(np.min(x), np.max(x), bins + 1)[1:]
            start = segments.starts[i]
            np.testing.assert_array_equal(symbols[start : start + len(x)], np.searchsorted(edges, x, side="left"))


def test_lempel_ziv_parse_example_from_tsfresh_docstring():
    # "100111" in two bins: sub-words 1, 0, 01, 11 -> 4 / 6
    x = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert lempel_ziv.lempel_ziv_complexity(Segments.from_series([x]), 2)[0] == pytest.approx(4 / 6)
    assert fc.lempel_ziv_complexity(x, 2) == pytest.approx(4 / 6)


# ------------------------------------------------------------------------------------------------
# cwt_coefficients
# ------------------------------------------------------------------------------------------------

CWT_PARAMS = [
    {"widths": widths, "coeff": c, "w": w}
    for widths in ((2, 5, 10, 20), (1, 3), (40,))
    for w in widths
    for c in (0, 1, 7, 14, 30, 99)
]


def test_mexh_integral_is_pywts():
    import pywt

    psi, _ = pywt.ContinuousWavelet("mexh").wavefun(12)
    step = 16 / 4095
    integral, ours_step = cwt_coefficients._mexh_integral()
    assert ours_step == np.linspace(-8, 8, 4096)[1] - np.linspace(-8, 8, 4096)[0]
    expected = np.cumsum(psi)
    expected *= ours_step
    # psi comes from pywt's C exp(), ours from numpy's: the platform's libm, equal to an ulp or so
    np.testing.assert_allclose(integral, expected, rtol=1e-13, atol=1e-15)
    assert abs(ours_step - step) < 1e-15


def test_cwt_coefficients_on_many_lengths():
    series = _series(7, LENGTHS)
    series += [np.array([1.0, np.nan, 3.0] * 10), np.array([np.inf] + [1.0] * 40)]
    _compare("cwt_coefficients", series, CWT_PARAMS)


def test_cwt_coefficients_that_cancel_still_match_to_1e_10():
    # with a large offset (or a constant series) a coefficient is a small difference of two large
    # sums: pywt's own rounding shows at 1e-9 and beyond, so those take numpy's exact dot products
    rng = np.random.default_rng(8)
    series = [np.cumsum(rng.normal(size=n)) + 1e6 for n in (12, 50, 400, 1000)] + [np.full(100, 7.0)]
    params = [{"widths": (2, 5, 10, 20), "coeff": c, "w": w} for w in (2, 5, 10, 20) for c in range(15)]
    ours = compute(REGISTRY["cwt_coefficients"], Segments.from_series(series), params)
    for index, x in enumerate(series):
        expected = np.array([v for _, v in fc.cwt_coefficients(x, params)], dtype=float)
        np.testing.assert_allclose(np.array([values[index] for _, values in ours]), expected, rtol=1e-10, atol=0)


def test_cwt_coefficients_invalid_width_gives_nan_like_a_raising_tsfresh():
    params = [{"widths": (2, 5), "coeff": 0, "w": 3}]
    with pytest.raises(ValueError):
        fc.cwt_coefficients(np.arange(10.0), params)
    ((_, values),) = compute(REGISTRY["cwt_coefficients"], Segments.from_series([np.arange(10.0)]), params)
    assert np.isnan(values).all()


# ------------------------------------------------------------------------------------------------
# number_cwt_peaks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 13])
def test_number_cwt_peaks_counts_match_exactly(n):
    series = _series(10 + n, [*range(1, 30), 31, 50, 64, 100, 150, 333, 1000] * 2)
    series.append(np.array([1.0, 2.0, np.nan, 2.0, 1.0, 3.0, 0.5, 4.0, 0.0, 1.0, 0.0]))
    ours = cwt_peaks.number_cwt_peaks(Segments.from_series(series), n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = np.array([fc.number_cwt_peaks(x, n) for x in series], dtype=float)
    np.testing.assert_array_equal(ours, expected)


def test_ricker_cwt_rows_are_scipys_in_both_convolution_methods():
    from scipy.signal._wavelets import _cwt, _ricker

    rng = np.random.default_rng(12)
    series = [rng.normal(size=9000), np.cumsum(rng.normal(size=9000)), rng.integers(0, 3, 300).astype(float)]
    n = 130  # widths above ~110 use scipy's FFT convolution on 9,000 points
    assert cwt_peaks._scipy_convolve_uses_fft(9000, 1300) and not cwt_peaks._scipy_convolve_uses_fft(9000, 100)
    segments = Segments.from_series(series)
    ours = cwt_peaks._ricker_cwt(segments, n)
    for i, x in enumerate(series):
        start, length = segments.starts[i], segments.lengths[i]
        expected = _cwt(x, _ricker, np.arange(1, n + 1))
        # direct sums and FFT convolutions as scipy makes them: 1e-12 of each row's scale (FFT and exp
        # rounding is the build's and the CPU's, not this code's)
        scale = np.abs(expected).max(axis=1, keepdims=True)
        error = np.abs(ours[:, start : start + length] - expected)
        assert (error <= 1e-12 * scale).all(), (i, float((error / np.maximum(scale, 1e-300)).max()))


def test_next_fast_len_is_scipys():
    import scipy.fft

    for target in [*range(1, 300), 1049, 9999, 12345, 65537]:
        assert cwt_peaks._next_fast_len_real(target) == scipy.fft.next_fast_len(target, real=True), target


def test_number_cwt_peaks_long_series_with_fft_widths():
    rng = np.random.default_rng(13)
    x = np.sin(np.linspace(0, 60, 9000)) + 0.2 * rng.normal(size=9000)
    ours = cwt_peaks.number_cwt_peaks(Segments.from_series([x]), 120)
    assert ours[0] == fc.number_cwt_peaks(x, 120)


def test_window_percentile_is_scoreatpercentile():
    from scipy.stats import scoreatpercentile

    rng = np.random.default_rng(14)
    values = rng.normal(size=400)
    values[[5, 77]] = np.nan
    start = rng.integers(0, 350, 300)
    stop = np.minimum(start + rng.integers(1, 50, 300), 400)
    got = cwt_peaks._window_percentile(values, start, stop, 10)
    want = [scoreatpercentile(values[a:b], per=10) for a, b in zip(start, stop, strict=True)]
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------------------------------
# query_similarity_count
# ------------------------------------------------------------------------------------------------


def test_query_similarity_count_preset_is_nan():
    params = [{"query": None, "threshold": 0.0}]
    ((suffix, values),) = compute(
        REGISTRY["query_similarity_count"], Segments.from_series(_series(15, [5, 50])), params
    )
    assert suffix == "query_None__threshold_0.0"
    assert np.isnan(values).all()
    assert all(np.isnan(v) for _, v in fc.query_similarity_count(np.arange(5.0), params))


def test_query_similarity_count_with_a_query_matches_stumpy():
    rng = np.random.default_rng(16)
    series = [rng.normal(size=n) for n in (20, 100, 500)]
    series += [np.full(30, 2.0), np.sin(np.linspace(0, 20, 200)), np.r_[np.ones(10), rng.normal(size=40)]]
    series += [np.r_[rng.normal(size=20), np.nan, rng.normal(size=20)], np.r_[rng.normal(size=20), np.inf, [1.0] * 9]]
    query = np.sin(np.linspace(0, 3, 10))
    params = [{"query": query, "threshold": t} for t in (0.5, 1.0, 2.0, 3.0)]
    params += [{"query": query, "threshold": 2.0, "normalize": False}, {"query": np.ones(5), "threshold": 0.0}]
    params += [{"query": [1.0, 2.0], "threshold": 1.0}]
    _compare("query_similarity_count", series, params)


def test_query_longer_than_series_is_nan_for_that_query_only():
    """Deviation: tsfresh (stumpy) raises for the whole combiner; featurize gives NaN for that query only."""
    x = np.arange(6.0)
    params = [{"query": np.arange(10.0), "threshold": 1.0}, {"query": np.ones(3), "threshold": 0.0}]
    with pytest.raises(ValueError):
        fc.query_similarity_count(x, params)
    (_, long_query), (_, short_query) = compute(REGISTRY["query_similarity_count"], Segments.from_series([x]), params)
    assert np.isnan(long_query[0])
    assert short_query[0] == 0.0


def test_batched_work_gives_the_same_results(monkeypatch):
    rng = np.random.default_rng(17)
    series = [rng.normal(size=int(rng.integers(1, 300))) for _ in range(40)]
    segments = Segments.from_series(series)
    query = [{"query": np.sin(np.linspace(0, 3, 8)), "threshold": 2.5}]
    peaks = cwt_peaks.number_cwt_peaks(segments, 5)
    ((_, counts),) = compute(REGISTRY["query_similarity_count"], segments, query)
    monkeypatch.setattr(cwt_peaks, "_PEAKS_BATCH_CELLS", 2000)
    monkeypatch.setattr(query_similarity, "_QUERY_BATCH_CELLS", 500)
    np.testing.assert_array_equal(cwt_peaks.number_cwt_peaks(segments, 5), peaks)
    ((_, batched),) = compute(REGISTRY["query_similarity_count"], segments, query)
    np.testing.assert_array_equal(batched, counts)


def test_spkt_welch_density_keeps_values_on_their_coefficients():
    """Deviation (tsfresh bug): with an out-of-range coefficient listed first, tsfresh shifts the values.

    tsfresh returns the available values first and the NaNs last, zipped with the names in the order
    given, so ``coeff_200`` receives the value of coefficient 2 and ``coeff_2`` receives NaN.
    """
    x = np.random.default_rng(18).normal(size=50)
    params = [{"coeff": 200}, {"coeff": 2}, {"coeff": -1}]
    _, pxx = scipy.signal.welch(x, nperseg=50)
    theirs = dict(fc.spkt_welch_density(x, params))
    # the tsfresh bug: the values of coefficients 2 and -1 come first, the NaN of 200 last
    assert theirs["coeff_200"] == pxx[2] and theirs["coeff_2"] == pxx[-1] and np.isnan(theirs["coeff_-1"])
    ours = dict(compute(REGISTRY["spkt_welch_density"], Segments.from_series([x]), params))
    assert np.isnan(ours["coeff_200"][0])
    assert ours["coeff_2"][0] == pytest.approx(pxx[2], rel=1e-12)
    assert ours["coeff_-1"][0] == pytest.approx(pxx[-1], rel=1e-12)
