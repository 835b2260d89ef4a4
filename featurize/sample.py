"""A deterministic sample data set: noisy sensor signals of many machines, in long format with kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_sample(n_ids: int = 1000, n_points: int = 250, seed: int = 42) -> pd.DataFrame:
    """Long table ``id, time, kind, value`` with kinds ``temperature`` and ``pressure``.

    Parameters
    ----------
    n_ids : int
        Number of series ids (machines).
    n_points : int
        Points per series and kind.
    seed : int
        Seed of the random generator: the same arguments give the same table.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n_points, dtype=np.float64)
    frames = []
    for kind, base, scale in (("temperature", 60.0, 5.0), ("pressure", 1.0, 0.1)):
        level = base + scale * rng.standard_normal((n_ids, 1))
        period = rng.uniform(20, 80, size=(n_ids, 1))
        values = level + scale * np.sin(2 * np.pi * t / period) + 0.3 * scale * rng.standard_normal((n_ids, n_points))
        frames.append(
            pd.DataFrame(
                {
                    "id": np.repeat(np.arange(n_ids), n_points),
                    "time": np.tile(t.astype(np.int64), n_ids),
                    "kind": kind,
                    "value": values.ravel(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
