"""Calculators tsfresh computes with statsmodels (ADF, AR, PACF) and the entropy estimators, in numpy."""

from __future__ import annotations
