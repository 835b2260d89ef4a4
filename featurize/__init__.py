"""featurize: serverless, tsfresh-compatible time-series feature extraction on AWS Step Functions.

The same workflow (``statemachine/featurize.asl.json``) runs on AWS after ``cdk deploy`` and on this
machine through the local engine (:mod:`featurize.engine`). The Python API (:mod:`featurize.api`) is
imported on first use of its names.
"""

from typing import Any

__version__ = "0.1.0"

__all__ = ["InputError", "Run", "RunFailed", "extract_features", "run", "__version__"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from featurize import api

        return getattr(api, name)
    raise AttributeError(f"module 'featurize' has no attribute {name!r}")
