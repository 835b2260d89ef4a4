"""Many series in one array: the layout every vectorized calculator works on."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Segments:
    """Contiguous series inside one value array.

    Parameters
    ----------
    values : numpy.ndarray
        float64 values, each series contiguous and in time order.
    starts : numpy.ndarray
        Start offset of each series (int64, non-decreasing, first is 0).
    lengths : numpy.ndarray
        Length of each series (int64). Zero only in calculator-level tests: the pipeline never
        produces an empty series, and :func:`featurize_lambda.core.registry.compute` fills empty
        series with the calculator's ``empty`` value instead of calling it.
    """

    values: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_series(cls, series: list[np.ndarray]) -> Segments:
        """Build from a list of 1-D arrays (used by tests and custom features)."""
        lengths = np.array([len(s) for s in series], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(series) else lengths
        values = np.concatenate(series).astype(np.float64) if len(series) else np.empty(0)
        return cls(values, starts, lengths)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def stops(self) -> np.ndarray:
        """End offset (exclusive) of each series."""
        return self.starts + self.lengths

    @cached_property
    def segment_of_row(self) -> np.ndarray:
        """Segment index of every value."""
        return np.repeat(np.arange(len(self.starts)), self.lengths)

    @cached_property
    def position(self) -> np.ndarray:
        """Position of every value inside its own series (0, 1, ... per series)."""
        return np.arange(len(self.values)) - np.repeat(self.starts, self.lengths)

    def series(self, index: int) -> np.ndarray:
        """One series as a view (for calculators that have no vectorized form)."""
        return self.values[self.starts[index] : self.starts[index] + self.lengths[index]]

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Per-segment sum of ``x``, an array aligned with ``values`` (all segments non-empty)."""
        return np.add.reduceat(x, self.starts) if len(x) else np.zeros(len(self))

    def mean(self) -> np.ndarray:
        """Per-segment mean."""
        return self.sum(self.values) / self.lengths

    def broadcast(self, per_segment: np.ndarray) -> np.ndarray:
        """Repeat one value per segment to every value of the segment."""
        return np.repeat(per_segment, self.lengths)

    def variance(self) -> np.ndarray:
        """Per-segment population variance (``np.var``), two-pass for accuracy."""
        deviation = self.values - self.broadcast(self.mean())
        return self.sum(deviation * deviation) / self.lengths

    @cached_property
    def sorted_values(self) -> np.ndarray:
        """Values sorted within each segment (segments stay in place; NaN last, as ``np.sort``)."""
        order = np.lexsort((self.values, self.segment_of_row))
        return self.values[order]

    def blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Equal-length groups as 2-D blocks: ``[(segment indices, block of shape (n, length)), ...]``.

        Most data sets have few distinct lengths, so a calculator can run row-wise numpy functions
        (``np.median(axis=1)``, ``np.fft.rfft(axis=1)``) on each block.
        """
        out = []
        for length in np.unique(self.lengths):
            rows = np.flatnonzero(self.lengths == length)
            out.append((rows, self.values[self.starts[rows, None] + np.arange(length)]))
        return out

    def distinct_lengths(self) -> int:
        """How many different series lengths there are."""
        return len(np.unique(self.lengths))

    def lag_pairs(self, lag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All pairs ``(x[i], x[i + lag])`` inside each series.

        Returns
        -------
        tuple
            ``(first, second, segment)``: the earlier values, the later values, and the segment of
            each pair (segments shorter than ``lag + 1`` have no pairs).
        """
        keep = self.position < (np.repeat(self.lengths, self.lengths) - lag)
        index = np.flatnonzero(keep)
        return self.values[index], self.values[index + lag], self.segment_of_row[index]

    def sum_by(self, x: np.ndarray, segment: np.ndarray) -> np.ndarray:
        """Per-segment sum of ``x`` grouped by an explicit segment index (0 where a segment has none)."""
        return np.bincount(segment, weights=x, minlength=len(self))

    def count_by(self, segment: np.ndarray) -> np.ndarray:
        """Per-segment count of entries grouped by an explicit segment index."""
        return np.bincount(segment, minlength=len(self)).astype(np.float64)
