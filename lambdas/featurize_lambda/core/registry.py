"""The calculator registry, which is the feature catalogue: functions plus metadata, named as tsfresh 0.21.2 names them.

A calculator computes one feature family for every series of a chunk at once. Three public
registration decorators cover tsfresh's two calculator types:

- :func:`simple` — no parameters, ``f(segments) -> array`` (one value per series);
- :func:`parametrized` — a tsfresh *simple* calculator with parameters, ``f(segments, **param) -> array``,
  called once per parameter dict and named ``<name>__<param>_<value>...``; with ``batch=True``,
  ``f(segments, params) -> [array, ...]`` gets every parameter dict at once (to share work) and is named
  the same way;
- :func:`combiner` — a tsfresh *combiner*, ``f(segments, params) -> [(suffix, array), ...]`` that sees
  all parameter dicts at once, so shared intermediate results are computed once.

Every calculator declares its parameters where it is registered (:class:`Param`: type, range or
choices, optional or not); a :func:`parametrized` calculator's come from its signature (names,
annotated types, defaults) unless declared. Settings are checked against them before any chunk is
computed (:mod:`featurize_lambda.core.settings`). tsfresh's preset grids stay data
(``tsfresh_presets.json``).

The same decorators register *custom* calculators: a function defined in a module of the
``custom_features`` package is kept in :data:`CUSTOM` under its reference
``custom_features.<module>:<function>`` (the name settings use), not in :data:`REGISTRY`, which holds
tsfresh's catalogue only.
"""

from __future__ import annotations

import builtins
import inspect
import json
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .segments import Segments

Params = dict[str, Any]
Result = list[tuple[str, np.ndarray]]

#: Custom calculators live in this package of the Lambda asset and are named ``custom_features.module:function``.
CUSTOM_PACKAGE = "custom_features"

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


def output_format(param: Params) -> str:
    """tsfresh's ``convert_to_output_format``: ``key_value`` pairs sorted by key, strings quoted."""
    return "__".join(f"{key}_{_value(param[key])}" for key in sorted(param))


def _value(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value)


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string", object: "any value"}


@dataclass(frozen=True)
class Param:
    """One parameter of a calculator: what values it accepts.

    Attributes
    ----------
    type : type
        ``int``, ``float`` (an integer is a number too), ``bool``, ``str``, ``tuple`` (a JSON list, read
        as a tuple, of ``item``) or ``object`` (anything: not checked).
    low, high : float or None
        Inclusive bounds of a number.
    choices : tuple or None
        The only values allowed.
    item : type
        The type of a ``tuple``'s items (``int`` or ``float``).
    optional : bool
        May be left out (tsfresh reads it with a default).
    nullable : bool
        ``null`` (None) is allowed too.
    """

    type: builtins.type = object
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    item: builtins.type = float
    optional: bool = False
    nullable: bool = False

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is allowed."""
        if value is None:
            return self.nullable
        if self.choices is not None:
            return any(value == choice and type(value) is type(choice) for choice in self.choices)
        if self.type is tuple:
            return isinstance(value, list | tuple) and all(_is(item, self.item) for item in value)
        if not _is(value, self.type):
            return False
        if self.low is not None and not value >= self.low:
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """What is allowed, in words: ``an integer >= 0``, ``one of "real", "imag"``, ``a number from 0 to 1``."""
        if self.choices is not None:
            words = "one of " + ", ".join(_json(choice) for choice in self.choices)
        elif self.type is tuple:
            words = f"a list of {_TYPE_WORDS[self.item].split(' ', 1)[1]}s"
        else:
            words = _TYPE_WORDS[self.type]
            if self.low is not None and self.high is not None:
                words += f" from {_number(self.low)} to {_number(self.high)}"
            elif self.low is not None:
                words += f" >= {_number(self.low)}"
            elif self.high is not None:
                words += f" <= {_number(self.high)}"
        if self.nullable and not (self.choices and None in self.choices):
            words += " or null"
        return words + (" (optional)" if self.optional else "")


def _is(value: Any, kind: type) -> bool:
    """JSON-minded type check: bools are not numbers, integers are numbers, numpy scalars count."""
    if kind is object:
        return True
    if kind is bool:
        return isinstance(value, bool | np.bool_)
    if isinstance(value, bool | np.bool_):
        return False
    if kind is int:
        return isinstance(value, numbers.Integral)
    if kind is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, kind)


def _json(value: Any) -> str:
    """A value as settings (JSON) spell it."""
    return json.dumps(value, default=list)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Calculator:
    """One registered calculator.

    Attributes
    ----------
    name : str
        tsfresh's name (for a custom calculator: the function's name, which names its columns).
    fctype : str
        ``"simple"`` or ``"combiner"`` (tsfresh's type: decides how parameters become column names).
    compute : callable
        ``compute(segments, params) -> [(suffix, values), ...]``.
    empty : callable or None
        ``empty(params) -> [(suffix, value)]``: the values tsfresh gives for an empty series.
    params : dict of str to Param, or None
        The parameters it takes (empty: none); None only for a custom function taking ``**kwargs``
        (not checked).
    notes : str
        Remarks for the catalogue (``featurize features`` shows them): a deviation from tsfresh, say.
    rtol : float
        Relative tolerance to tsfresh: 1e-9 for closed forms; up to 1e-6 where tsfresh's dependency is
        iterative or approximate (optimizers, interpolated p-value tables, peak searches).
    """

    name: str
    fctype: str
    compute: Callable[[Segments, Sequence[Params] | None], Result]
    empty: Callable[[Sequence[Params] | None], list[tuple[str, float]]] | None = None
    params: Mapping[str, Param] | None = None
    notes: str = ""
    rtol: float = 1e-9


#: tsfresh's catalogue: every built-in calculator by its tsfresh name.
REGISTRY: dict[str, Calculator] = {}
#: Custom calculators registered with the decorators below, by reference (``custom_features.<module>:<function>``).
CUSTOM: dict[str, Calculator] = {}


def register(calculator: Calculator, function: Callable[..., Any] | None = None) -> Calculator:
    """Add a calculator to the catalogue (or, when ``function`` lives in ``custom_features``, to :data:`CUSTOM`).

    Raises
    ------
    ValueError
        If a built-in calculator of that name is already registered.
    """
    module = getattr(function, "__module__", "") or ""
    if module.split(".", 1)[0] == CUSTOM_PACKAGE:
        table, key = CUSTOM, f"{module}:{function.__name__}"  # type: ignore[union-attr]
    else:
        table, key = REGISTRY, calculator.name
    # a custom module may be re-imported (importlib.reload in a notebook): its newest definition wins
    if key in table and table is REGISTRY:
        raise ValueError(f"calculator {key!r} is registered twice")
    table[key] = calculator
    return calculator


def signature_params(function: Callable[..., Any], skip: int = 1) -> dict[str, Param] | None:
    """Parameters from a signature, as tsfresh reads them: names after the first ``skip``, annotated types, defaults.

    Returns None when the function takes ``**kwargs`` (any name is accepted).
    """
    parameters = list(inspect.signature(function, eval_str=True).parameters.values())[skip:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    out = {}
    for p in parameters:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        kind = p.annotation if p.annotation in _TYPE_WORDS else object
        out[p.name] = Param(kind, optional=p.default is not inspect.Parameter.empty, nullable=p.default is None)
    return out


def _declared(
    function: Callable[..., Any], name: str, params: Mapping[str, Param] | None, derive: bool
) -> dict[str, Param] | None:
    """The signature's parameters (``derive``) overridden by the declared ones; a typo in a declaration is caught.

    None (any parameter accepted) for a function taking ``**kwargs`` that declares nothing.
    """
    found = signature_params(function) if derive else {}
    if found is None:
        return dict(params) if params else None
    unknown = sorted(set(params or {}) - set(found)) if derive else []
    if unknown:
        raise ValueError(f"calculator {name!r} declares parameters {unknown} its function does not take")
    return found | dict(params or {})


def simple(name: str | None = None, empty: float = np.nan, notes: str = "", rtol: float = 1e-9) -> Callable:
    """Register ``f(segments) -> array`` as the parameterless calculator ``name`` (default: the function's name)."""

    def decorate(function: Callable[[Segments], np.ndarray]) -> Callable[[Segments], np.ndarray]:
        def compute(segments: Segments, params: Sequence[Params] | None) -> Result:
            return [("", np.asarray(function(segments), dtype=np.float64))]

        title = name or function.__name__
        register(Calculator(title, "simple", compute, lambda params: [("", empty)], {}, notes, rtol), function)
        return function

    return decorate


def parametrized(
    name: str | None = None,
    empty: float = np.nan,
    notes: str = "",
    rtol: float = 1e-9,
    params: Mapping[str, Param] | None = None,
    batch: bool = False,
) -> Callable:
    """Register a tsfresh simple calculator with parameters, named ``<name>__<param>_<value>...``.

    ``f(segments, **param) -> array`` is called once per parameter dict; its parameters come from its
    signature, refined by ``params`` (ranges, choices). With ``batch=True``,
    ``f(segments, params) -> [array, ...]`` gets every parameter dict at once (one array each, in
    order), so parameters that share work compute it once; ``params`` must then declare them all.
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        title = name or function.__name__

        def compute(segments: Segments, given: Sequence[Params] | None) -> Result:
            given = list(given or ())
            if batch:
                arrays = function(segments, given) if given else []
            else:
                arrays = [function(segments, **param) for param in given]
            return [
                (output_format(param), np.asarray(values, dtype=np.float64))
                for param, values in zip(given, arrays, strict=True)
            ]

        def on_empty(given: Sequence[Params] | None) -> list[tuple[str, float]]:
            return [(output_format(param), empty) for param in given or ()]

        declared = _declared(function, title, params, derive=not batch)
        register(Calculator(title, "simple", compute, on_empty, declared, notes, rtol), function)
        return function

    return decorate


def combiner(
    name: str | None = None,
    empty: Callable[[Sequence[Params]], list[tuple[str, float]]] | None = None,
    notes: str = "",
    rtol: float = 1e-9,
    params: Mapping[str, Param] | None = None,
) -> Callable:
    """Register ``f(segments, params) -> [(suffix, array), ...]`` as the tsfresh combiner ``name``.

    A combiner sees every parameter dict at once, so work they share is done once, and names its
    columns itself. ``params`` declares the keys of a parameter dict. ``empty(params)`` gives the
    suffixes and values for an empty series; by default the calculator is called on one one-point
    series to learn the suffixes, and every value is NaN.
    """

    def decorate(function: Callable[[Segments, Sequence[Params]], Result]) -> Callable:
        def compute(segments: Segments, given: Sequence[Params] | None) -> Result:
            return [
                (suffix, np.asarray(values, dtype=np.float64)) for suffix, values in function(segments, given or [])
            ]

        def on_empty(given: Sequence[Params] | None) -> list[tuple[str, float]]:
            if empty is not None:
                return empty(given or [])
            probe = Segments(np.zeros(1), np.zeros(1, dtype=np.int64), np.ones(1, dtype=np.int64))
            return [(suffix, np.nan) for suffix, _ in function(probe, given or [])]

        title = name or function.__name__
        register(Calculator(title, "combiner", compute, on_empty, dict(params or {}), notes, rtol), function)
        return function

    return decorate


def per_series(function: Callable[..., Any]) -> Calculator:
    """A plain custom function ``f(x, **param) -> number | [(name, value), ...]`` as a calculator.

    It sees one series at a time (a float64 numpy array in time order), so it runs in a Python loop;
    its parameters come from its signature. Columns: ``<function>[__<param>_<value>...][__<name>]``.
    """

    def run(segments: Segments, params: Sequence[Params] | None) -> Result:
        columns: dict[str, np.ndarray] = {}
        parameter_sets: Sequence[Params | None] = params or [None]
        for param in parameter_sets:
            prefix = output_format(param) if param else ""
            for index in range(len(segments)):
                value = function(segments.series(index), **(param or {}))
                pairs = value if isinstance(value, list | tuple) else [("", value)]
                for suffix, item in pairs:
                    key = "__".join(filter(None, [prefix, str(suffix)]))
                    columns.setdefault(key, np.full(len(segments), np.nan))[index] = item
        return list(columns.items())

    return Calculator(function.__name__, "custom", run, None, signature_params(function))


def compute(calculator: Calculator, segments: Segments, params: Sequence[Params] | None) -> Result:
    """Run a calculator on every segment; empty segments get the calculator's ``empty`` values.

    Returns
    -------
    list of (str, numpy.ndarray)
        Column suffix (``""`` for none) and one float64 value per segment, in tsfresh's column order.
    """
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
