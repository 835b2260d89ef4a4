"""Distribution, count, location and reoccurrence calculators (tsfresh names), vectorized per chunk.

Every calculator works on all series of a chunk at once: segment reductions (``np.add.reduceat``),
cumulative counts, and row-wise numpy on 2-D blocks of (padded) equal-length series.

Exactness where tsfresh compares floats. Several calculators compare values with a mean or a standard
deviation (``x > mean``, ``std > r * range``...). A sum computed in a different order than numpy's
pairwise summation can differ in the last bits, which would flip such a comparison when a value sits
exactly on the threshold (a constant series of 0.1, a symmetric series whose mean is one of its
values). Two regimes keep these exact:

- few distinct lengths (the usual case): numpy's row-wise reductions on equal-length 2-D blocks,
  which give bit for bit what numpy gives on each series alone, i.e. what tsfresh computes;
- many distinct lengths: fast segment reductions, then the series where some comparison lies within
  a rigorous rounding-error bound of its threshold are recomputed the first way.
"""

# Importing a module registers its calculators; this order is the order of the catalogue.
# isort: off
from . import moments  # noqa: F401
from . import locations  # noqa: F401
from . import reoccurring  # noqa: F401
from . import benford  # noqa: F401
from . import thresholds  # noqa: F401
from . import quantiles  # noqa: F401
# isort: on
