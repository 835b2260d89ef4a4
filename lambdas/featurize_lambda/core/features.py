"""Extract features from a chunk: every requested calculator over every series of every kind.

A chunk is one long table sorted by ``(id, kind, time)``. Per kind, its values form one float array
in which each id's series is a contiguous *segment*; each calculator maps all segments to one value
per segment at once (:mod:`featurize_lambda.core.calculators`). Column names and order follow tsfresh:
``<kind>__<feature>[__<param>_<value>...]``, kinds in the run's kind order, features in settings order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import calculators  # noqa: F401  (registers every calculator)
from .registry import compute
from .segments import Segments
from .settings import FeatureSpec, Settings, calculator, parse_features

__all__ = ["extract", "parse_features", "FeatureSpec"]


def _columns(segments: Segments, settings: Settings) -> list[tuple[str, np.ndarray]]:
    """``[(feature name, values per segment), ...]`` for one kind's segments."""
    out = []
    for name, params in settings.items():
        calc = calculator(name)
        for suffix, values in compute(calc, segments, params):
            out.append((f"{calc.name}__{suffix}" if suffix else calc.name, values))
    return out


def _empty_columns(settings: Settings) -> list[str]:
    """Feature names of a kind that has no series in this chunk (computed on a one-point series)."""
    probe = Segments(np.zeros(1), np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64))
    return [name for name, _ in _columns(probe, settings)]


def extract(chunk: pd.DataFrame, kinds: list[str], spec: FeatureSpec) -> pd.DataFrame:
    """Features of every id of a normalized chunk, as tsfresh's wide result.

    Parameters
    ----------
    chunk : pandas.DataFrame
        Columns ``id``, ``kind`` (categorical or str), ``value`` (float64), sorted by id, kind, time.
    kinds : list of str
        Every kind of the whole run, in output column order (all chunks share their columns).
    spec : FeatureSpec
        Validated feature settings.

    Returns
    -------
    pandas.DataFrame
        Index = the chunk's ids (sorted, named ``id``), one float64 column per feature.
    """
    ids = chunk["id"].to_numpy()
    kind = chunk["kind"]
    if isinstance(kind.dtype, pd.CategoricalDtype) and list(kind.cat.categories) == kinds:
        kind_codes = kind.cat.codes.to_numpy()
    else:
        kind_codes = pd.Categorical(kind, categories=kinds).codes
    values = chunk["value"].to_numpy(dtype=np.float64)
    n = len(chunk)

    new_id = np.ones(n, dtype=bool)
    new_id[1:] = ids[1:] != ids[:-1]
    id_of_row = np.cumsum(new_id) - 1
    unique_ids = ids[new_id]

    names: list[str] = []
    columns: list[np.ndarray] = []
    for code, kind_name in enumerate(kinds):
        settings = spec.for_kind(kind_name)
        if not settings:
            continue
        rows = np.flatnonzero(kind_codes == code)
        if len(rows) == 0:
            feature_names = _empty_columns(settings)
            names += [f"{kind_name}__{f}" for f in feature_names]
            columns += [np.full(len(unique_ids), np.nan)] * len(feature_names)
            continue
        ids_k = id_of_row[rows]
        starts = np.flatnonzero(np.diff(ids_k, prepend=-1) != 0)
        lengths = np.diff(np.append(starts, len(rows)))
        segments = Segments(values[rows], starts, lengths)
        owner = ids_k[starts]
        for feature, per_segment in _columns(segments, settings):
            column = np.full(len(unique_ids), np.nan)
            column[owner] = per_segment
            names.append(f"{kind_name}__{feature}")
            columns.append(column)
    matrix = np.column_stack(columns) if columns else np.empty((len(unique_ids), 0))
    return pd.DataFrame(matrix, index=pd.Index(unique_ids, name="id"), columns=names)
