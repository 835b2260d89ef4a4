"""Calculators tsfresh computes with statsmodels (ADF, AR, PACF) and the entropy estimators, in numpy.

tsfresh 0.21.2 calls statsmodels for three of these (``adfuller``, ``AutoReg``, ``pacf``) and loops over
the templates of a series in Python for the two entropies. Here:

- the least-squares fits (ADF, AR) run as *batched* Householder QR factorizations, one
  ``numpy.linalg.qr`` call per block of equal-length series, on centered columns (the constant of the
  regression is eliminated exactly, Frisch-Waugh). One factorization of the largest ADF design gives
  every nested lag model of the lag search (residual sums of squares and last-column t-values are the
  tails of the triangular factor);
- a series whose fit is not well determined in floating point — a rank-deficient or near-singular
  design, a constant regressor, an almost-perfect fit, two lag orders whose information criteria are
  too close to tell apart, non-finite values — is recomputed one at a time by a numpy transcription
  of statsmodels' own arithmetic (SVD pseudo-inverse, ``matrix_rank``, the same expression order), so
  that it reproduces statsmodels' result, rounding and all, where the problem is decided by rounding;
- PACF runs the Levinson-Durbin recursion for every series at once; a series where the recursion
  amplifies rounding (random walks, nearly deterministic series) takes statsmodels' own numpy calls;
- the entropies count template matches exactly with a sort-and-window search (pairs are only formed
  between templates whose first coordinates are within the tolerance), for every series at once.
"""

# Importing a module registers its calculators; this order is the order of the catalogue.
# isort: off
from . import adf  # noqa: F401
from . import ar  # noqa: F401
from . import pacf  # noqa: F401
from . import entropies  # noqa: F401
# isort: on
