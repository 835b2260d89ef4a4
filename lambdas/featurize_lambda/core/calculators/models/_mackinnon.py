"""MacKinnon's approximate p-value (statsmodels.tsa.adfvalues.mackinnonp, regression "c", N = 1)."""

from __future__ import annotations

import math

import numpy as np

_TAU_MAX_C = 2.74
_TAU_MIN_C = -18.83
_TAU_STAR_C = -1.61
#: Polynomial coefficients, highest power first (statsmodels' tables, scaled as it scales them).
_TAU_C_SMALLP = (3.8269 * 1e-2, 1.4412 * 1, 2.1659 * 1)
_TAU_C_LARGEP = (-1.0368 * 1e-2, -1.2745 * 1e-1, 9.3202 * 1e-1, 1.7339 * 1)


def _norm_cdf(z: float) -> float:
    """Standard normal CDF as scipy's ``ndtr`` evaluates it (erf near 0, erfc in the tails)."""
    if math.isnan(z):
        return math.nan
    x = z * 0.7071067811865476
    a = abs(x)
    if a < 0.7071067811865476:
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(a)
    return 1.0 - y if x > 0 else y


def _mackinnonp(stat: np.ndarray) -> np.ndarray:
    """MacKinnon (1994, 2010 tables) approximate p-values of ADF t-statistics (constant, no trend)."""
    out = np.empty(len(stat))
    for i, t in enumerate(stat.tolist()):
        if t > _TAU_MAX_C:
            out[i] = 1.0
        elif t < _TAU_MIN_C:
            out[i] = 0.0
        else:
            y = 0.0
            for c in _TAU_C_SMALLP if t <= _TAU_STAR_C else _TAU_C_LARGEP:  # numpy.polyval's Horner order
                y = y * t + c
            out[i] = _norm_cdf(y)
    return out
