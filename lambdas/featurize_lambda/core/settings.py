"""Feature settings exactly like tsfresh's, parsed and validated before any chunk is computed.

The ``features`` field of the execution input takes one of:

- a preset name: ``"minimal"``, ``"efficient"``, ``"comprehensive"`` (tsfresh 0.21.2's grids);
- a tsfresh settings dict (``default_fc_parameters``): ``{"mean": null, "quantile": [{"q": 0.1}]}``;
- per-kind settings: ``{"default": <preset or dict>, "kinds": {"temperature": <preset or dict>}}``
  (tsfresh's ``kind_to_fc_parameters``: a listed kind uses its own settings, every other kind the
  default; without ``default`` the other kinds get no features, as in tsfresh);
- custom functions inside a settings dict: ``{"custom_features.example:peak_to_peak": null}``.
"""

from __future__ import annotations

import difflib
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import calculators  # noqa: F401  (registers every calculator)
from .registry import CUSTOM, CUSTOM_PACKAGE, REGISTRY, Calculator, Params, per_series

#: tsfresh 0.21.2's presets as plain data (``tests/unit/test_core_features.py`` checks them against tsfresh).
PRESETS_PATH = Path(__file__).resolve().parent / "tsfresh_presets.json"
PRESET_NAMES = ("minimal", "efficient", "comprehensive")

Settings = dict[str, list[Params] | None]


def _tuples(value: Any) -> Any:
    """JSON has no tuples; tsfresh's grids use them (``widths``) and name columns after them."""
    return tuple(value) if isinstance(value, list) else value


@cache
def presets() -> dict[str, Settings]:
    """The tsfresh presets, read once."""
    data = json.loads(PRESETS_PATH.read_text(encoding="utf-8"))
    return {
        name: {
            calc: None if params is None else [{k: _tuples(v) for k, v in p.items()} for p in params]
            for calc, params in data[name].items()
        }
        for name in PRESET_NAMES
    }


def presets_of(name: str) -> list[str]:
    """The presets that hold a calculator."""
    return [preset for preset in PRESET_NAMES if name in presets()[preset]]


def load_custom(reference: str) -> Calculator:
    """The custom calculator ``custom_features.module:function``.

    A function registered with the decorators of :mod:`~featurize_lambda.core.registry` inside that
    module is used as registered; any other function is a per-series function
    (:func:`~featurize_lambda.core.registry.per_series`).

    Raises
    ------
    InputError
        If the reference is malformed or names no function of the asset's ``custom_features`` package.
    """
    module_name, _, function_name = reference.partition(":")
    if not module_name.startswith(CUSTOM_PACKAGE + ".") or not function_name:
        raise InputError(f"custom feature {reference!r} must be named '{CUSTOM_PACKAGE}.<module>:<function>'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise InputError(
            f"custom feature {reference!r}: module {module_name!r} not found ({error}); add it to "
            f"lambdas/{CUSTOM_PACKAGE}/ and redeploy"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise InputError(f"custom feature {reference!r}: {module_name} has no function {function_name!r}")
    registered = CUSTOM.get(f"{getattr(function, '__module__', '')}:{getattr(function, '__name__', '')}")
    return registered if registered is not None else per_series(function)


def calculator(name: str) -> Calculator:
    """The calculator a settings key names: a tsfresh name or a custom reference (already validated)."""
    return load_custom(name) if ":" in name else REGISTRY[name]


def _example(calc: Calculator, name: str) -> str:
    grid = presets()["comprehensive"].get(name)
    if grid:
        return json.dumps(grid[0], default=list)
    return "{" + ", ".join(f'"{key}": <{param.describe()}>' for key, param in (calc.params or {}).items()) + "}"


def _takes(calc: Calculator) -> str:
    return "; ".join(f"{key}: {param.describe()}" for key, param in (calc.params or {}).items())


def _check_param(name: str, calc: Calculator, param: Mapping[str, Any]) -> None:
    """Refuse an unknown, missing or disallowed parameter, naming calculator, parameter, value and what is allowed."""
    declared = calc.params
    if declared is None:  # a custom function taking **kwargs
        return
    unknown = sorted(set(param) - set(declared))
    if unknown:
        hint = difflib.get_close_matches(unknown[0], list(declared), n=1)
        raise InputError(
            f"feature calculator {name!r} has no parameter {unknown[0]!r}"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; it takes {_takes(calc)}"
        )
    missing = [key for key, spec in declared.items() if key not in param and not spec.optional]
    if missing:
        raise InputError(
            f"feature calculator {name!r} needs parameter {missing[0]!r} ({declared[missing[0]].describe()}) "
            f"in {json.dumps(param, default=list)}"
        )
    for key, value in param.items():
        if not declared[key].accepts(value):
            raise InputError(
                f"feature calculator {name!r}: parameter {key!r} got {json.dumps(value, default=str)}; "
                f"allowed: {declared[key].describe()}"
            )


def _params(name: str, calc: Calculator, raw: Any) -> list[Params] | None:
    """A calculator's parameter list, checked: null where it takes none (or all are optional), else dicts."""
    declared = calc.params or {}
    # a combiner with parameters is always called with a list, as in tsfresh; None: **kwargs, any or none
    takes = calc.params is None or bool(declared)
    if raw is None:
        if (calc.fctype == "combiner" and declared) or any(not p.optional for p in declared.values()):
            raise InputError(f"feature calculator {name!r} needs parameters, e.g. [{_example(calc, name)}]")
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(p, Mapping) for p in raw):
        raise InputError(f"parameters of {name!r} must be null or a non-empty list of objects, got {raw!r}")
    if not takes:
        raise InputError(f"feature calculator {name!r} takes no parameters (use null), got {raw!r}")
    for param in raw:
        _check_param(name, calc, param)
    return [{key: _tuples(value) for key, value in param.items()} for param in raw]


def _looks_like_settings(raw: Any) -> bool:
    return isinstance(raw, Mapping) or (isinstance(raw, str) and raw in PRESET_NAMES)


def _unknown(name: str, spec: Mapping[str, Any], where: str) -> InputError:
    """An unknown calculator: a likely misspelling, or tsfresh's per-kind dict given as settings."""
    message = f"unknown feature calculator {name!r} in {where}"
    if _looks_like_settings(spec[name]):
        kinds = [key for key, value in spec.items() if key not in REGISTRY and _looks_like_settings(value)]
        example = ", ".join(f'"{kind}": ...' for kind in kinds[:3]) + (", ..." if len(kinds) > 3 else "")
        return InputError(
            f"{message}: its value is settings, so {name!r} looks like a kind (tsfresh's kind_to_fc_parameters); "
            f'featurize takes per-kind settings as {{"kinds": {{{example}}}}}, with an optional "default" '
            "(a preset or settings) for the kinds not listed"
        )
    hint = difflib.get_close_matches(name, list(REGISTRY), n=1)
    return InputError(message + (f"; did you mean {hint[0]!r}?" if hint else "; see `featurize features`"))


def parse_settings(spec: Any, where: str = "features") -> Settings:
    """Validate one settings dict or preset name (no per-kind form)."""
    if isinstance(spec, str):
        if spec not in PRESET_NAMES:
            raise InputError(f"unknown feature preset {spec!r} in {where}; available: {list(PRESET_NAMES)}")
        spec = presets()[spec]
    if not isinstance(spec, Mapping) or not spec:
        raise InputError(f"{where} must be a preset name or a non-empty settings object, got {spec!r}")
    settings: Settings = {}
    for name, raw in spec.items():
        if ":" not in name and name not in REGISTRY:
            raise _unknown(name, spec, where)
        settings[name] = _params(name, calculator(name), raw)
    return settings


@dataclass(frozen=True)
class FeatureSpec:
    """Validated settings: the default settings and per-kind overrides (tsfresh's two arguments)."""

    default: Settings
    kinds: dict[str, Settings] = field(default_factory=dict)

    def for_kind(self, kind: str) -> Settings:
        """The settings a kind uses."""
        return self.kinds.get(kind, self.default)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (what the run document stores; :func:`parse_features` reads it back)."""
        return {"default": self.default, "kinds": self.kinds}


def parse_features(spec: Any) -> FeatureSpec:
    """Parse the ``features`` field: a preset, a settings dict, or ``{"default": ..., "kinds": {...}}``.

    Raises
    ------
    InputError
        For an unknown preset, calculator or parameter, a parameter value out of its range or choices,
        or a custom function that does not exist — before any chunk is computed.
    """
    if isinstance(spec, Mapping) and "kinds" in spec:
        unknown = sorted(set(spec) - {"default", "kinds"})
        if unknown:
            raise InputError(f"per-kind features take only 'default' and 'kinds', got {unknown}")
        if not isinstance(spec["kinds"], Mapping):
            raise InputError("features.kinds must map kind names to presets or settings")
        default = spec.get("default")
        return FeatureSpec(
            default={} if default in (None, {}) else parse_settings(default, "features.default"),
            kinds={str(k): parse_settings(v, f"features.kinds.{k}") for k, v in spec["kinds"].items()},
        )
    return FeatureSpec(default=parse_settings(spec))
