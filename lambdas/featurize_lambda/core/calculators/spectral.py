"""Calculators tsfresh computes with scipy.signal and friends (Welch, Ricker CWT, peak search), in numpy."""

from __future__ import annotations
