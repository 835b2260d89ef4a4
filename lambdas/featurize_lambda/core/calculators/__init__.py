"""Calculator implementations; importing this package registers every one of them.

Each module registers its calculators with the decorators of :mod:`featurize_lambda.core.registry`.
"""

from . import basic, dynamics, models, spectral, stats  # noqa: F401
