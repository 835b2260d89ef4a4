"""Query similarity count (``stumpy.core.mass`` in tsfresh)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...registry import Param, Params, Result, combiner, output_format
from ...segments import Segments

#: stumpy's config.STUMPY_DENOM_THRESHOLD.
_STUMPY_DENOM_THRESHOLD = 1e-14


#: Window values (rows x windows x query length) materialized at once by query_similarity_count.
_QUERY_BATCH_CELLS = 4_000_000


def _query_counts(block: np.ndarray, query: np.ndarray, normalize: bool, threshold: float) -> np.ndarray:
    """Per row, how many subsequences lie within ``threshold`` of ``query`` (windows taken in batches)."""
    rows, length = block.shape
    m = len(query)
    windows = np.lib.stride_tricks.sliding_window_view(block, m, axis=1)  # a view: (rows, L - m + 1, m)
    step = max(1, _QUERY_BATCH_CELLS // (rows * m))
    counts = np.zeros(rows)
    for first in range(0, length - m + 1, step):
        counts += np.sum(_query_distances(windows[:, first : first + step], query, normalize) <= threshold, axis=1)
    return counts


def _query_distances(windows: np.ndarray, query: np.ndarray, normalize: bool) -> np.ndarray:
    """Distance of ``query`` to each window (stumpy's ``mass`` / ``mass_absolute`` formulas)."""
    m = len(query)
    finite = np.isfinite(windows).all(axis=-1)
    if not np.isfinite(query).all():
        return np.full(finite.shape, np.inf)
    if not normalize:
        clean = np.where(np.isfinite(windows), windows, 0.0)
        distance = np.sqrt(np.sum((clean - query) ** 2, axis=-1))
        return np.where(finite, distance, np.inf)
    clean = np.where(np.isfinite(windows), windows, 0.0)
    mean_t = clean.mean(axis=-1)
    std_t = clean.std(axis=-1)
    const_t = finite & (np.ptp(clean, axis=-1) == 0)
    qt = clean @ query
    mean_q, std_q = query.mean(), query.std()
    const_q = np.ptp(query) == 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        denom = np.maximum(std_q * std_t * m, _STUMPY_DENOM_THRESHOLD)
        rho = np.minimum((qt - (mean_q * mean_t) * m) / denom, 1.0)
        squared = np.abs(2 * m * (1.0 - rho))
    if const_q:
        squared = np.where(const_t, 0.0, float(m))
    else:
        squared = np.where(const_t, float(m), squared)
    squared = np.where(finite, squared, np.inf)
    return np.sqrt(squared)


@combiner(
    "query_similarity_count",
    params={
        "query": Param(tuple, optional=True, nullable=True),
        "threshold": Param(float, optional=True),
        "normalize": Param(bool, optional=True),
    },
    notes=(
        "A query longer than the series gives NaN for that query only (tsfresh/stumpy raise for the whole "
        "calculator); with a query, a distance equal to the threshold to rounding may count differently."
    ),
)
def query_similarity_count(s: Segments, params: Sequence[Params]) -> Result:
    """How many subsequences lie within ``threshold`` of ``query`` (z-normalized Euclidean by default).

    tsfresh's preset ``{"query": None, "threshold": 0.0}`` gives NaN (no query, or one shorter than 3
    points). With a query, the distance profile follows stumpy's ``mass`` formula (constant
    subsequences: 0 if the query is constant too, else sqrt(m); non-finite ones: inf); a series shorter
    than the query gives NaN (stumpy raises). Distances are computed in numpy, so a subsequence whose
    distance equals the threshold to rounding may be counted differently from stumpy.
    """
    out = []
    for param in params:
        values = np.full(len(s), np.nan)
        query = param.get("query", None)
        q = np.asarray(query, dtype=float) if query is not None else np.empty(0)
        if q.ndim == 1 and q.size >= 3:
            threshold = param.get("threshold", 0.0)
            normalize = param.get("normalize", True)
            for rows, block in s.blocks():
                if block.shape[1] < q.size:
                    continue
                values[rows] = _query_counts(block, q, bool(normalize), threshold)
        out.append((output_format(param), values))
    return out
