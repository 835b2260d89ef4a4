"""Feature calculators, vectorized over every series of a chunk at once.

A chunk is one long table sorted by ``(id, kind, time)``. Its values form one float array; each
``(id, kind)`` pair is a contiguous *segment* of it. A calculator maps the segments to one number per
segment with numpy segment reductions (``ufunc.reduceat``) instead of a Python loop per series.

Names, settings and values follow tsfresh 0.21.2: a column is ``<kind>__<feature>`` (parametrized
features add ``__<param>_<value>``, with the full library).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError

#: tsfresh-style settings: calculator name -> None (no parameters) or a list of parameter dicts.
FeatureSettings = dict[str, list[dict[str, Any]] | None]


@dataclass(frozen=True)
class Segments:
    """Contiguous series inside one sorted value array.

    Parameters
    ----------
    values : numpy.ndarray
        float64 values, each series contiguous and in time order.
    starts : numpy.ndarray
        Start offset of each series (int64, strictly increasing, first is 0).
    lengths : numpy.ndarray
        Length of each series (int64, all > 0).
    """

    values: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    @property
    def segment_of_row(self) -> np.ndarray:
        """Segment index of every value."""
        return np.repeat(np.arange(len(self.starts)), self.lengths)

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per-segment sum of ``x`` (an array aligned with ``values``)."""
        return np.add.reduceat(x, self.starts)

    def mean(self) -> np.ndarray:
        """Per-segment mean."""
        return self.sum(self.values) / self.lengths

    def variance(self) -> np.ndarray:
        """Per-segment population variance (``np.var``), two-pass for accuracy."""
        deviation = self.values - np.repeat(self.mean(), self.lengths)
        return self.sum(deviation * deviation) / self.lengths

    def sorted_values(self) -> np.ndarray:
        """Values sorted within each segment (segments stay in place)."""
        order = np.lexsort((self.values, self.segment_of_row))
        return self.values[order]


def _median(s: Segments) -> np.ndarray:
    """Median per segment, exactly as ``np.median`` of each series.

    Segments of equal length are stacked into 2-D blocks and reduced with one ``np.median(axis=1)``
    (a linear-time partition per row); with many distinct lengths a segmented sort is cheaper.
    """
    distinct = np.unique(s.lengths)
    if len(distinct) > max(8, len(s.lengths) // 16):
        ordered = s.sorted_values()
        return (ordered[s.starts + (s.lengths - 1) // 2] + ordered[s.starts + s.lengths // 2]) / 2
    out = np.empty(len(s.lengths))
    for length in distinct:
        rows = np.flatnonzero(s.lengths == length)
        block = s.values[s.starts[rows, None] + np.arange(length)]
        out[rows] = np.median(block, axis=1)
    return out


Calculator = Callable[[Segments], np.ndarray]

#: Implemented calculators without parameters, in tsfresh's MinimalFCParameters order.
CALCULATORS: dict[str, Calculator] = {
    "sum_values": lambda s: s.sum(s.values),
    "median": _median,
    "mean": Segments.mean,
    "length": lambda s: s.lengths.astype(np.float64),
    "standard_deviation": lambda s: np.sqrt(s.variance()),
    "variance": Segments.variance,
    "root_mean_square": lambda s: np.sqrt(s.sum(s.values * s.values) / s.lengths),
    "maximum": lambda s: np.maximum.reduceat(s.values, s.starts),
    "absolute_maximum": lambda s: np.maximum.reduceat(np.abs(s.values), s.starts),
    "minimum": lambda s: np.minimum.reduceat(s.values, s.starts),
}

#: Named presets, as tsfresh's ``*FCParameters`` classes.
PRESETS: dict[str, FeatureSettings] = {
    "minimal": dict.fromkeys(CALCULATORS),
}


def parse_features(spec: Any) -> FeatureSettings:
    """Turn the ``features`` field of the execution input into validated tsfresh-style settings.

    Parameters
    ----------
    spec : str or dict
        A preset name (``"minimal"``) or a tsfresh settings dict such as ``{"mean": null}``.

    Returns
    -------
    dict
        Calculator name -> parameter list or None, in the order given.

    Raises
    ------
    InputError
        For an unknown preset or calculator, or parameters where none are taken.
    """
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise InputError(f"unknown feature preset {spec!r}; available: {sorted(PRESETS)}")
        return dict(PRESETS[spec])
    if not isinstance(spec, Mapping) or not spec:
        raise InputError(f"features must be a preset name or a non-empty settings object, got {spec!r}")
    settings: FeatureSettings = {}
    for name, params in spec.items():
        if name not in CALCULATORS:
            raise InputError(f"unknown feature calculator {name!r}; available: {sorted(CALCULATORS)}")
        if params is not None:
            raise InputError(f"feature calculator {name!r} takes no parameters (use null), got {params!r}")
        settings[name] = None
    return settings


def feature_names(settings: FeatureSettings) -> list[str]:
    """Feature part of the column names (``<feature>[__<param>_<value>]``), in settings order."""
    return list(settings)


def compute_segments(segments: Segments, settings: FeatureSettings) -> np.ndarray:
    """Compute every requested feature for every segment.

    Returns
    -------
    numpy.ndarray
        float64 matrix, one row per segment, one column per :func:`feature_names` entry.
    """
    columns = [np.asarray(CALCULATORS[name](segments), dtype=np.float64) for name in settings]
    return np.column_stack(columns) if columns else np.empty((len(segments.starts), 0))


def extract(chunk: pd.DataFrame, kinds: list[str], settings: FeatureSettings) -> pd.DataFrame:
    """Features of every id of a normalized chunk, as tsfresh's wide result.

    Parameters
    ----------
    chunk : pandas.DataFrame
        Columns ``id``, ``kind`` (str), ``value`` (float64), sorted by id, then kind, then time.
    kinds : list of str
        Every kind of the whole run, in output column order (so that all chunks share columns).
    settings : dict
        Validated feature settings.

    Returns
    -------
    pandas.DataFrame
        Index = the chunk's ids (sorted, named ``id``), columns ``<kind>__<feature>``, float64.
    """
    ids = chunk["id"].to_numpy()
    kind = chunk["kind"]
    if isinstance(kind.dtype, pd.CategoricalDtype) and list(kind.cat.categories) == kinds:
        kind_codes = kind.cat.codes.to_numpy()
    else:
        kind_codes = pd.Categorical(kind, categories=kinds).codes
    n = len(chunk)
    names = feature_names(settings)
    columns = [f"{kind}__{name}" for kind in kinds for name in names]
    if n == 0:
        return pd.DataFrame(columns=columns, dtype=np.float64, index=pd.Index([], name="id"))
    change = np.ones(n, dtype=bool)
    change[1:] = (ids[1:] != ids[:-1]) | (kind_codes[1:] != kind_codes[:-1])
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, n))
    segments = Segments(chunk["value"].to_numpy(dtype=np.float64), starts, lengths)
    matrix = compute_segments(segments, settings)

    new_id = np.ones(n, dtype=bool)
    new_id[1:] = ids[1:] != ids[:-1]
    id_index = np.cumsum(new_id)[starts] - 1
    unique_ids = ids[new_id]
    kind_index = kind_codes[starts]

    out = np.full((len(unique_ids), len(kinds), len(names)), np.nan)
    out[id_index, kind_index, :] = matrix
    return pd.DataFrame(
        out.reshape(len(unique_ids), len(kinds) * len(names)),
        index=pd.Index(unique_ids, name="id"),
        columns=columns,
    )
