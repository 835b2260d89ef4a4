"""``linear_trend_timewise``: no columns, as in tsfresh's ``extract_features``."""

from __future__ import annotations

from collections.abc import Sequence

from ...registry import Param, Params, Result, combiner
from ...segments import Segments
from .trends import _LINREGRESS_ATTRS


@combiner(
    "linear_trend_timewise",
    params={"attr": Param(str, choices=tuple(sorted(_LINREGRESS_ATTRS)))},
    notes=(
        "yields no columns: tsfresh 0.21.2 computes it only for a series whose index is a pandas DatetimeIndex, "
        "and extract_features passes each series with the input's row index, so tsfresh skips it (with a warning)"
    ),
)
def linear_trend_timewise(s: Segments, params: Sequence[Params]) -> Result:
    """No columns, as tsfresh: it needs a DatetimeIndex, which ``extract_features`` never passes.

    tsfresh hands each series to its calculators with the input frame's row index; for a table read
    from a file that is never a DatetimeIndex, so tsfresh skips this calculator with a warning.
    """
    return []
