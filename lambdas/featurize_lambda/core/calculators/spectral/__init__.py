"""Calculators tsfresh computes with scipy.signal and friends (Welch, Ricker CWT, peak search), in numpy.

tsfresh 0.21.2 calls ``scipy.signal.welch``, ``pywt.cwt`` (Mexican hat), ``scipy.signal.find_peaks_cwt``
and ``stumpy.core.mass``; none of them is available in the Lambda, so each is re-implemented here
with the same arithmetic, vectorized over every series of a chunk (equal-length series are processed
as 2-D blocks; the peak search runs over all series at once). Only the Lempel-Ziv parse is a
per-series Python loop, because it is inherently sequential.
"""

# Importing a module registers its calculators; this order is the order of the catalogue.
# isort: off
from . import welch  # noqa: F401
from . import lempel_ziv  # noqa: F401
from . import query_similarity  # noqa: F401
from . import cwt_coefficients  # noqa: F401
from . import cwt_peaks  # noqa: F401
# isort: on
