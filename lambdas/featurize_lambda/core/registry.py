"""The calculator registry: pure functions plus metadata, named as tsfresh 0.21.2 names them.

A calculator computes one feature family for every series of a chunk at once. Three registration
forms cover tsfresh's two calculator types:

- :func:`simple` — no parameters, ``f(segments) -> array`` (one value per series);
- :func:`parametrized` — a tsfresh *simple* calculator with parameters, ``f(segments, **param) -> array``,
  called once per parameter dict and named ``<name>__<param>_<value>...``;
- :func:`combiner` — a tsfresh *combiner*, ``f(segments, params) -> [(suffix, array), ...]`` that sees
  all parameter dicts at once, so shared intermediate results are computed once.

Every tsfresh calculator is registered (see :data:`TSFRESH_CALCULATORS`); asking for one without an
implementation is a clear error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .segments import Segments

Params = dict[str, Any]
Result = list[tuple[str, np.ndarray]]

#: Every calculator of tsfresh 0.21.2's ComprehensiveFCParameters (matrix_profile, optional in tsfresh
#: and absent from its presets, is not included).
TSFRESH_CALCULATORS = (
    "variance_larger_than_standard_deviation", "has_duplicate_max", "has_duplicate_min", "has_duplicate",
    "sum_values", "abs_energy", "mean_abs_change", "mean_change", "mean_second_derivative_central", "median",
    "mean", "length", "standard_deviation", "variation_coefficient", "variance", "skewness", "kurtosis",
    "root_mean_square", "absolute_sum_of_changes", "longest_strike_below_mean", "longest_strike_above_mean",
    "count_above_mean", "count_below_mean", "last_location_of_maximum", "first_location_of_maximum",
    "last_location_of_minimum", "first_location_of_minimum", "percentage_of_reoccurring_values_to_all_values",
    "percentage_of_reoccurring_datapoints_to_all_datapoints", "sum_of_reoccurring_values",
    "sum_of_reoccurring_data_points", "ratio_value_number_to_time_series_length", "sample_entropy", "maximum",
    "absolute_maximum", "minimum", "benford_correlation", "time_reversal_asymmetry_statistic", "c3", "cid_ce",
    "symmetry_looking", "large_standard_deviation", "quantile", "autocorrelation", "agg_autocorrelation",
    "partial_autocorrelation", "number_cwt_peaks", "number_peaks", "binned_entropy", "index_mass_quantile",
    "cwt_coefficients", "spkt_welch_density", "ar_coefficient", "change_quantiles", "fft_coefficient",
    "fft_aggregated", "value_count", "range_count", "approximate_entropy", "friedrich_coefficients",
    "max_langevin_fixed_point", "linear_trend", "agg_linear_trend", "augmented_dickey_fuller",
    "number_crossing_m", "energy_ratio_by_chunks", "ratio_beyond_r_sigma", "linear_trend_timewise",
    "count_above", "count_below", "lempel_ziv_complexity", "fourier_entropy", "permutation_entropy",
    "query_similarity_count", "mean_n_absolute_max",
)  # fmt: skip

#: Calculators tsfresh only computes when the series has a DatetimeIndex. ``extract_features`` passes
#: each series with the input frame's row index, never a DatetimeIndex for a table read from a file,
#: so tsfresh skips them (with a warning) and so does featurize: they produce no columns.
NEEDS_DATETIME_INDEX = frozenset({"linear_trend_timewise"})


def output_format(param: Params) -> str:
    """tsfresh's ``convert_to_output_format``: ``key_value`` pairs sorted by key, strings quoted."""
    return "__".join(f"{key}_{_value(param[key])}" for key in sorted(param))


def _value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


@dataclass(frozen=True)
class Calculator:
    """One registered calculator.

    Attributes
    ----------
    name : str
        tsfresh's name.
    fctype : str
        ``"simple"`` or ``"combiner"`` (tsfresh's type: decides how parameters become column names).
    compute : callable or None
        ``compute(segments, params) -> [(suffix, values), ...]``; None when not implemented yet.
    empty : callable
        ``empty(params) -> [(suffix, value)]``: the values tsfresh gives for an empty series.
    notes : str
        Remarks for the catalogue (a deliberate deviation from tsfresh, say).
    rtol : float
        Relative tolerance to tsfresh: 1e-9 for closed forms; up to 1e-6 where tsfresh's dependency is
        iterative or approximate (optimizers, interpolated p-value tables, peak searches).
    """

    name: str
    fctype: str
    compute: Callable[[Segments, Sequence[Params] | None], Result] | None
    empty: Callable[[Sequence[Params] | None], list[tuple[str, float]]] | None = None
    notes: str = ""
    rtol: float = 1e-9

    @property
    def implemented(self) -> bool:
        """Whether featurize computes it."""
        return self.compute is not None


REGISTRY: dict[str, Calculator] = {name: Calculator(name, "simple", None) for name in TSFRESH_CALCULATORS}


def _register(calculator: Calculator) -> None:
    if calculator.name in REGISTRY and REGISTRY[calculator.name].implemented:
        raise ValueError(f"calculator {calculator.name!r} is registered twice")
    REGISTRY[calculator.name] = calculator


def simple(name: str, empty: float = np.nan, notes: str = "", rtol: float = 1e-9) -> Callable:
    """Register ``f(segments) -> array`` as the parameterless calculator ``name``."""

    def register(function: Callable[[Segments], np.ndarray]) -> Callable[[Segments], np.ndarray]:
        def compute(segments: Segments, params: Sequence[Params] | None) -> Result:
            return [("", np.asarray(function(segments), dtype=np.float64))]

        _register(Calculator(name, "simple", compute, lambda params: [("", empty)], notes, rtol))
        return function

    return register


def parametrized(name: str, empty: float = np.nan, notes: str = "", rtol: float = 1e-9) -> Callable:
    """Register ``f(segments, **param) -> array`` as the tsfresh simple calculator ``name`` with parameters."""

    def register(function: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        def compute(segments: Segments, params: Sequence[Params] | None) -> Result:
            return [
                (output_format(param), np.asarray(function(segments, **param), dtype=np.float64))
                for param in params or ()
            ]

        def on_empty(params: Sequence[Params] | None) -> list[tuple[str, float]]:
            return [(output_format(param), empty) for param in params or ()]

        _register(Calculator(name, "simple", compute, on_empty, notes, rtol))
        return function

    return register


def combiner(
    name: str,
    empty: Callable[[Sequence[Params]], list[tuple[str, float]]] | None = None,
    notes: str = "",
    rtol: float = 1e-9,
) -> Callable:
    """Register ``f(segments, params) -> [(suffix, array), ...]`` as the tsfresh combiner ``name``.

    ``empty(params)`` gives the suffixes and values for an empty series; by default the calculator is
    called on one one-point series to learn the suffixes, and every value is NaN.
    """

    def register(function: Callable[[Segments, Sequence[Params]], Result]) -> Callable:
        def compute(segments: Segments, params: Sequence[Params] | None) -> Result:
            return [
                (suffix, np.asarray(values, dtype=np.float64)) for suffix, values in function(segments, params or [])
            ]

        def on_empty(params: Sequence[Params] | None) -> list[tuple[str, float]]:
            if empty is not None:
                return empty(params or [])
            probe = Segments(np.zeros(1), np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64))
            return [(suffix, np.nan) for suffix, _ in function(probe, params or [])]

        _register(Calculator(name, "combiner", compute, on_empty, notes, rtol))
        return function

    return register


def compute(calculator: Calculator, segments: Segments, params: Sequence[Params] | None) -> Result:
    """Run a calculator on every segment; empty segments get the calculator's ``empty`` values.

    Returns
    -------
    list of (str, numpy.ndarray)
        Column suffix (``""`` for none) and one float64 value per segment, in tsfresh's column order.
    """
    if calculator.compute is None:
        raise NotImplementedError(f"feature calculator {calculator.name!r} is not implemented yet")
    nonempty = segments.lengths > 0
    if nonempty.all():
        return calculator.compute(segments, params)
    defaults = calculator.empty(params) if calculator.empty is not None else []
    rows = np.flatnonzero(nonempty)
    inner = Segments(segments.values, segments.starts[rows], segments.lengths[rows])
    computed = calculator.compute(inner, params) if len(rows) else [(s, np.empty(0)) for s, _ in defaults]
    fill = dict(defaults)
    out = []
    for suffix, values in computed:
        full = np.full(len(segments), fill.get(suffix, np.nan), dtype=np.float64)
        full[rows] = values
        out.append((suffix, full))
    return out
