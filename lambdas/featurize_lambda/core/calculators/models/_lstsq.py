"""Batched least squares: centered QR factorizations and the conditioning of statsmodels' raw design."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

_EPS = float(np.finfo(np.float64).eps)

#: Elements of one batched design matrix (series x rows x columns): bounds the memory of a QR batch.
_BATCH_ELEMENTS = 4_000_000


def _batches(rows: np.ndarray, per_row: int) -> Iterator[np.ndarray]:
    """Split ``rows`` so that a batch's design has at most ``_BATCH_ELEMENTS`` elements."""
    size = max(1, _BATCH_ELEMENTS // max(per_row, 1))
    for first in range(0, len(rows), size):
        yield rows[first : first + size]


def _centered_qr(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """QR of the column-centered designs whose columns are ``columns`` (each series x rows).

    The centered columns are written as (series x columns x rows), each design matrix in Fortran order
    as LAPACK wants it.

    Returns
    -------
    tuple
        ``(r, means, constant)``: the triangular factors (series x columns x columns), the column
        means, and whether any column is constant over the rows (then the fit goes the reference way).
    """
    count, rows = columns[0].shape
    means = np.empty((count, len(columns)))
    constant = np.zeros(count, dtype=bool)
    centered = np.empty((count, len(columns), rows))
    for j, column in enumerate(columns):
        means[:, j] = column.mean(axis=1)
        constant |= column.max(axis=1) == column.min(axis=1)
        np.subtract(column, means[:, j, None], out=centered[:, j])
    # numpy's stubs type every qr() as QRResult; mode="r" returns the R array alone.
    return np.linalg.qr(centered.transpose(0, 2, 1), mode="r"), means, constant  # type: ignore[return-value]


def _condition(r: np.ndarray) -> np.ndarray:
    """2-norm condition number of the triangular factors ``r`` (inf if singular)."""
    if r.shape[-1] == 0:
        return np.ones(len(r))
    with np.errstate(divide="ignore", invalid="ignore"):
        sv = np.linalg.svd(np.where(np.isfinite(r), r, 0.0), compute_uv=False)
        return np.where(sv[:, -1] > 0, sv[:, 0] / sv[:, -1], np.inf)


#: Largest unscaled condition number of statsmodels' raw design for which its rounding is estimated.
_FIRST_ORDER = 1e10


def _raw_factor(r: np.ndarray, means: np.ndarray, nobs: int) -> np.ndarray:
    """Triangular factor of the raw design ``[1, X]`` as statsmodels sees it, from the centered one.

    ``r`` and ``means`` are :func:`_centered_qr`'s results for ``[regressors, regressand]``; the factor
    of ``[1, X]`` is ``[[sqrt(m), sqrt(m) mean(X)], [0, R_centered]]``.
    """
    k = r.shape[-1] - 1
    root = math.sqrt(nobs)
    raw = np.zeros((len(r), k + 1, k + 1))
    raw[:, 0, 0] = root
    raw[:, 0, 1:] = root * means[:, :k]
    raw[:, 1:, 1:] = r[:, :k, :k]
    return raw


def _raw_accuracy(r: np.ndarray, means: np.ndarray, nobs: int) -> tuple[np.ndarray, np.ndarray]:
    """Conditioning of the regression as statsmodels solves it: raw columns plus a column of ones.

    statsmodels' SVD solution is only as accurate as the raw design ``[1, X]`` allows. Measured on
    offsets, scales and nearly collinear lags, its error follows the condition number of the design
    with columns scaled to unit norm, or the ratio of the largest to the smallest column norm where
    that is larger (a column of ones next to tiny values); the unscaled condition number (the square
    of an offset) overstates it by orders of magnitude.

    Returns
    -------
    tuple
        ``(kappa, norm_y)``: that measure for the raw design and the norm of the raw regressand.
    """
    k = r.shape[-1] - 1
    raw = _raw_factor(r, means, nobs)
    norms = np.sqrt(np.einsum("bij,bij->bj", raw, raw))
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = _condition(raw / norms[:, None, :])
        spread = norms.max(axis=1) / norms.min(axis=1)
        kappa = np.maximum(scaled, spread)
        # beyond first order (an unscaled condition number near 1 / eps) the measure no longer holds
        kappa[np.isnan(kappa) | ~(_condition(raw) < _FIRST_ORDER)] = np.inf
    norm_y = np.sqrt(np.einsum("bi,bi->b", r[:, :, k], r[:, :, k]) + nobs * means[:, k] ** 2)
    return kappa, norm_y
