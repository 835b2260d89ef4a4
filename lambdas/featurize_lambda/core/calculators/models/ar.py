"""``ar_coefficient``: batched QR, ill-conditioned fits the statsmodels way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner
from ...segments import Segments
from ._lstsq import _EPS, _batches, _centered_qr, _raw_factor
from ._statsmodels import _ar_reference, _MissingDataError
from .adf import _AR_MARGIN, _AR_TARGET


def _ar_fast(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """OLS of ``x[t]`` on a constant and ``x[t-1..t-k]`` for a block of equal-length finite series.

    Returns ``(params, error)``: the coefficients as statsmodels orders them (constant first) and a
    first-order bound on the absolute error of statsmodels' own coefficients, from a backward error of
    one rounding unit of its raw design ``D = [1, X]`` (``W`` the inverse of its triangular factor):
    ``|d beta_i| <= eps (|W_i| (|y| + |D| |beta|) + |(W W')_i| |D| |r|)``. Observed errors stay within
    3 times the bound. It is infinite where a column is constant or the design too ill-conditioned for
    a first-order bound (condition number 1e8 and up).
    """
    count, n = block.shape
    nobs = n - k
    lagged = [block[:, k - j : n - j] for j in range(1, k + 1)]
    r, means, constant = _centered_qr(lagged + [block[:, k:]])
    raw = _raw_factor(r, means, nobs)
    diagonal = np.diagonal(raw, axis1=1, axis2=2)
    regular = np.isfinite(raw).all(axis=(1, 2)) & (diagonal != 0).all(axis=1)
    eye = np.eye(k + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # singular rows are solved with identity factors (and discarded): keeps the batched solves valid
        inverse = np.linalg.inv(np.where(regular[:, None, None], raw, eye))
        norm_d = np.sqrt(np.einsum("bij,bij->b", raw, raw))
        # |D|_F |W|_F bounds the condition number from above
        valid = regular & ~constant & (norm_d * np.sqrt(np.einsum("bij,bij->b", inverse, inverse)) < 1e8)
        beta = np.linalg.solve(np.where(regular[:, None, None], r[:, :k, :k], eye[:k, :k]), r[:, :k, k : k + 1])
        intercept = means[:, k] - np.einsum("bj,bj->b", means[:, :k], beta[:, :, 0])
        params = np.concatenate([intercept[:, None], beta[:, :, 0]], axis=1)
        norm_y = np.sqrt(np.einsum("bi,bi->b", r[:, :, k], r[:, :, k]) + nobs * means[:, k] ** 2)
        norm_b = np.sqrt(np.einsum("bi,bi->b", params, params))
        gram_inverse = inverse @ inverse.transpose(0, 2, 1)
        error = _EPS * (
            np.sqrt(np.einsum("bij,bij->bi", inverse, inverse)) * (norm_y + norm_d * norm_b)[:, None]
            + np.sqrt(np.einsum("bij,bij->bi", gram_inverse, gram_inverse)) * (norm_d * np.abs(r[:, k, k]))[:, None]
        )
    error[~valid] = np.inf
    return params, error


@combiner("ar_coefficient", params={"coeff": Param(int, low=0), "k": Param(int, low=0)})
def ar_coefficient(s: Segments, params: Sequence[Params]) -> Result:
    """statsmodels' ``AutoReg(x, lags=k, trend="c").fit().params``, once per distinct ``k``.

    Batched QR per block of equal-length series; ill-conditioned fits go through a transcription of
    statsmodels' SVD-based OLS. As tsfresh: a series too short for ``k`` lags gives NaN coefficients,
    except ``coeff == k``, which is 0 (tsfresh indexes a list of ``k`` NaNs and catches the
    IndexError); a non-finite value makes statsmodels raise an error tsfresh does not catch, so every
    column of the series is NaN.
    """
    fitted: dict[int, np.ndarray] = {}
    failed = np.zeros(len(s), dtype=bool)  # statsmodels' MissingDataError: the whole combiner fails
    for k in dict.fromkeys(param["k"] for param in params):
        coefficients = np.full((len(s), k + 1), np.nan)
        for rows, block in s.blocks():
            n = block.shape[1]
            if n - k < k + 1:
                coefficients[rows, k] = 0.0  # ValueError: [nan] * k, then IndexError for coeff k
                continue
            finite = np.isfinite(block).all(axis=1)
            redo = list(np.flatnonzero(~finite))
            for part in _batches(np.flatnonzero(finite), n * (k + 1)):
                got, error = _ar_fast(block[part], k)
                trusted = (np.isfinite(error) & (_AR_MARGIN * error <= _AR_TARGET * np.abs(got) + 1e-12)).all(axis=1)
                coefficients[rows[part[trusted]]] = got[trusted]
                redo.extend(part[~trusted])
            for i in redo:
                try:
                    with np.errstate(all="ignore"):
                        coefficients[rows[i]] = _ar_reference(block[i], k)
                except _MissingDataError:
                    failed[rows[i]] = True
                except (ZeroDivisionError, np.linalg.LinAlgError, ValueError):
                    coefficients[rows[i], :k] = np.nan
                    coefficients[rows[i], k] = 0.0
        fitted[k] = coefficients
    columns: dict[str, np.ndarray] = {}
    for param in params:
        k, p = param["k"], param["coeff"]
        values = fitted[k][:, p].copy() if 0 <= p <= k else np.full(len(s), np.nan)
        values[failed] = np.nan
        columns[f"coeff_{p}__k_{k}"] = values
    return list(columns.items())
