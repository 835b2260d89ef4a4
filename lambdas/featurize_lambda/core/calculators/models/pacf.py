"""``partial_autocorrelation``: the Levinson-Durbin recursion for every series at once."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner
from ...segments import Segments

#: A series whose Levinson-Durbin recursion amplifies rounding more than this (largest ``acov[0] / sig[k]``)
#: takes statsmodels' own numpy calls (:func:`_pacf_statsmodels`). Below it, the batched path is within
#: 3e-11 (relative, 3e-14 absolute) of a correctly rounded PACF (tested; measured at most 2e-11 on AR(1)
#: series up to phi = 0.95, n = 5,000), so within 1e-9 of statsmodels however the machine's BLAS sums;
#: above it (random walks: 50-3,000; near-deterministic series: up to 1e8) the error grows with the
#: amplification, to 1e-8 and beyond, and only statsmodels' own calls round as statsmodels does.
_PACF_AMPLIFICATION = 10.0


def _levinson_durbin(acov: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """statsmodels' ``levinson_durbin(acov, nlags=top, isacov=True)`` for every row: ``(pacf, sig)``.

    The dot product of each step is a plain row-wise sum: its order differs from BLAS's, which only
    matters where the recursion amplifies rounding, and those series are recomputed the statsmodels way.
    """
    count = len(acov)
    phi = np.zeros((count, top + 1, top + 1))
    sig = np.zeros((count, top + 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        phi[:, 1, 1] = acov[:, 1] / acov[:, 0]
        sig[:, 1] = acov[:, 0] - phi[:, 1, 1] * acov[:, 1]
        for k in range(2, top + 1):
            dot = np.einsum("ij,ij->i", phi[:, 1:k, k - 1], acov[:, k - 1 : 0 : -1])
            phi[:, k, k] = (acov[:, k] - dot) / sig[:, k - 1]
            phi[:, 1:k, k] = phi[:, 1:k, k - 1] - phi[:, k, k][:, None] * phi[:, k - 1 : 0 : -1, k - 1]
            sig[:, k] = sig[:, k - 1] * (1 - phi[:, k, k] ** 2)
    return np.diagonal(phi, axis1=1, axis2=2).copy(), sig


def _pacf_statsmodels(series: list[np.ndarray], order: int) -> np.ndarray:
    """``pacf(x, method="ld", nlags=order)[1:]`` for each series, with statsmodels' own numpy calls.

    ``acovf(x, adjusted=True, fft=False)`` takes ``np.correlate(xo, xo, "full")``, whose every lag is one
    ``dot`` of ``xo[k:]`` and ``xo[:n - k]`` (only the lags used are taken here); ``levinson_durbin`` takes
    ``np.dot`` of a column of its ``(order + 1) x (order + 1)`` coefficient matrix and the reversed
    autocovariances. Each series makes the same dot calls on the same memory layout (row ``j`` of
    ``phi`` below is such a matrix), so it gets statsmodels' result on any machine, whatever order the
    BLAS kernel sums in. The element-wise steps are exact in any order, so they run for all at once.
    """
    count = len(series)
    acov = np.empty((count, order + 1))
    phi = np.zeros((count, order + 1, order + 1))
    sig = np.zeros((count, order + 1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for j, x in enumerate(series):
            xo = x - x.mean()
            n = len(xo)
            acov[j] = [np.dot(xo[k:], xo[: n - k]) for k in range(order + 1)]
            acov[j] /= n - np.arange(order + 1)
        phi[:, 1, 1] = acov[:, 1] / acov[:, 0]
        sig[:, 1] = acov[:, 0] - phi[:, 1, 1] * acov[:, 1]
        for k in range(2, order + 1):
            dot = [np.dot(phi[j, 1:k, k - 1], acov[j, 1:k][::-1]) for j in range(count)]
            phi[:, k, k] = (acov[:, k] - dot) / sig[:, k - 1]
            phi[:, 1:k, k] = phi[:, 1:k, k - 1] - phi[:, k, k][:, None] * phi[:, k - 1 : 0 : -1, k - 1]
            sig[:, k] = sig[:, k - 1] * (1 - phi[:, k, k] ** 2)
    return np.diagonal(phi, axis1=1, axis2=2)[:, 1:]


@combiner("partial_autocorrelation", params={"lag": Param(int, low=0)})
def partial_autocorrelation(s: Segments, params: Sequence[Params]) -> Result:
    """statsmodels' ``pacf(x, method="ld", nlags=...)`` as tsfresh calls it, for the largest lag asked.

    Adjusted autocovariances (divided by ``n - k``) of each block of equal-length series (row-wise
    pairwise sums), then the Levinson-Durbin recursion for every series at once. Where the recursion
    amplifies rounding (random walks, nearly deterministic series), the series is recomputed with
    statsmodels' own numpy calls (:func:`_pacf_statsmodels`), so that it rounds as statsmodels does. As
    tsfresh: lags of half the length or more are NaN, and so is every lag (lag 0 included) when no
    positive lag can be computed.
    """
    lags = [param["lag"] for param in params]
    demanded = max(lags)
    n = s.lengths
    max_lag = np.minimum(demanded, n // 2 - 1)
    top = int(max(max_lag.max(initial=0), 1))
    count = len(s)
    acov = np.zeros((count, top + 1))
    mean = np.zeros(count)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for rows, block in s.blocks():
            length = block.shape[1]
            mean[rows] = block.mean(axis=1)
            xo = block - mean[rows, None]  # bit for bit statsmodels' x - x.mean()
            width = min(top, length - 1) + 1
            if length <= 256:  # short series: every lag in one call (zero-padded windows), fewer calls
                padded = np.zeros((len(rows), length + width - 1))
                padded[:, :length] = xo
                windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
                acov[rows, :width] = np.einsum("bt,btk->bk", xo, windows) / (length - np.arange(width))
            else:
                for k in range(width):
                    acov[rows, k] = np.einsum("ij,ij->i", xo[:, k:], xo[:, : length - k]) / (length - k)
        pacf, sig = _levinson_durbin(acov, top)
        within = np.arange(1, top + 1)[None, :] <= max_lag[:, None]
        amplification = np.where(within, acov[:, :1] / np.abs(sig[:, 1:]), 0.0).max(axis=1, initial=0.0)
    redo = np.flatnonzero((max_lag > 0) & ~(amplification <= _PACF_AMPLIFICATION))
    for order in np.unique(max_lag[redo]):
        rows = redo[max_lag[redo] == order]
        pacf[rows, 1 : order + 1] = _pacf_statsmodels([s.series(i) for i in rows], int(order))
    out = np.full((count, demanded + 1), np.nan)
    width = min(top, demanded) + 1
    out[:, :width] = pacf[:, :width]
    out[:, 0] = 1.0
    out[np.arange(demanded + 1)[None, :] > max_lag[:, None]] = np.nan
    out[(max_lag <= 0) | (n <= 1)] = np.nan
    return [(f"lag_{lag}", out[:, lag]) for lag in lags]
