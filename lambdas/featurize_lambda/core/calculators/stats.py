"""Distribution, count, location and reoccurrence calculators (tsfresh names), vectorized per chunk."""

from __future__ import annotations
