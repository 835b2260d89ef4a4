"""Calculators of a series' dynamics: lags, autocorrelation, peaks, spectra, trends, entropies."""

from __future__ import annotations

from collections.abc import Sequence

from ..registry import Params, Result, combiner
from ..segments import Segments


@combiner("linear_trend_timewise")
def linear_trend_timewise(s: Segments, params: Sequence[Params]) -> Result:
    """No columns, as tsfresh: it needs a DatetimeIndex, which ``extract_features`` never passes.

    tsfresh hands each series to its calculators with the input frame's row index; for a table read
    from a file that is never a DatetimeIndex, so tsfresh skips this calculator with a warning.
    """
    return []
