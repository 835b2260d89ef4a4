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

import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import calculators  # noqa: F401  (registers every implemented calculator)
from .registry import REGISTRY, Params

#: tsfresh 0.21.2's presets as plain data (``tests/test_settings.py`` checks them against tsfresh).
PRESETS_PATH = Path(__file__).resolve().parent / "tsfresh_presets.json"
PRESET_NAMES = ("minimal", "efficient", "comprehensive")

#: Custom functions live in this package of the Lambda asset and are named ``custom_features.module:function``.
CUSTOM_PACKAGE = "custom_features"

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


@cache
def parameter_names() -> dict[str, frozenset[str]]:
    """Parameter names of every calculator, from the comprehensive grid (empty: takes none)."""
    grid = presets()["comprehensive"]
    return {name: frozenset(grid[name][0]) if grid.get(name) else frozenset() for name in REGISTRY}


def presets_of(name: str) -> list[str]:
    """The presets that hold a calculator."""
    return [preset for preset in PRESET_NAMES if name in presets()[preset]]


def load_custom(reference: str) -> Callable[..., Any]:
    """Import ``custom_features.module:function``.

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
    return function


def _params(name: str, raw: Any, custom: bool) -> list[Params] | None:
    if raw is None:
        if not custom and parameter_names()[name]:
            example = presets()["comprehensive"][name][0]
            raise InputError(f"feature calculator {name!r} needs parameters, e.g. [{json.dumps(example)}]")
        return None
    if not isinstance(raw, list) or not raw or not all(isinstance(p, Mapping) for p in raw):
        raise InputError(f"parameters of {name!r} must be null or a non-empty list of objects, got {raw!r}")
    if not custom:
        expected = parameter_names()[name]
        if not expected:
            raise InputError(f"feature calculator {name!r} takes no parameters (use null), got {raw!r}")
        for param in raw:
            if set(param) != expected:
                unknown, missing = sorted(set(param) - expected), sorted(expected - set(param))
                raise InputError(
                    f"parameters of {name!r} must be exactly {sorted(expected)}: "
                    + ", ".join(filter(None, [unknown and f"unknown {unknown}", missing and f"missing {missing}"]))
                )
    return [{key: _tuples(value) for key, value in param.items()} for param in raw]


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
        custom = ":" in name
        if custom:
            load_custom(name)
        elif name not in REGISTRY:
            raise InputError(f"unknown feature calculator {name!r} in {where}; see `featurize features`")
        settings[name] = _params(name, raw, custom)
        if not custom and not REGISTRY[name].implemented:
            raise InputError(f"feature calculator {name!r} is not implemented yet; see `featurize features`")
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
        For an unknown preset, calculator or parameter, a calculator not implemented yet, or a custom
        function that does not exist — before any chunk is computed.
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
