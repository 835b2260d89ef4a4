"""Calculators of a series' dynamics: lags, autocorrelation, peaks, spectra, trends, entropies.

Every calculator works on all series of a chunk at once:

- lag statistics multiply the flat value array with a shifted copy of itself and sum the products
  per series with one ``np.add.reduceat`` over the pairs that stay inside their series (the many
  lags of ``agg_autocorrelation``: row-wise ``einsum`` on blocks of equal-length series);
- spectra run ``np.fft.rfft(axis=1)`` on the blocks of equal-length series (row by row the same
  numbers as tsfresh's one-dimensional calls);
- chunk aggregates gather the chunks of every series into one 2-D array and reduce it row-wise;
- regressions (``linear_trend``, ``agg_linear_trend``) use scipy's ``linregress`` formulas in
  closed form, with the Student-t p-value from a vectorized incomplete beta function;
- ordinal patterns (``permutation_entropy``) are integer codes from comparisons of shifted copies.

Intermediates shared by the parameter sets of one chunk (centered values, local maxima, work
buffers, Friedrich fits) are cached on the ``Segments`` object (:func:`_cached`).

Only ``friedrich_coefficients`` and ``max_langevin_fixed_point`` keep a Python loop per series, for
``np.polyfit`` and ``np.roots`` (least squares and eigenvalues have no batched form that gives
numpy's numbers); their binning and group means are vectorized.
"""

# Importing a module registers its calculators; this order is the order of the catalogue.
# isort: off
from . import lags  # noqa: F401
from . import spectra  # noqa: F401
from . import entropies  # noqa: F401
from . import trends  # noqa: F401
from . import langevin  # noqa: F401
from . import timewise  # noqa: F401
# isort: on
