"""featurize: serverless, tsfresh-compatible time-series feature extraction on AWS Step Functions.

The same workflow (``statemachine/featurize.asl.json``) runs on AWS after ``cdk deploy`` and on this
machine through the local engine (:mod:`featurize.engine`).
"""

__version__ = "0.1.0"

from featurize.api import InputError, Run, RunFailed, extract_features, run  # noqa: E402

__all__ = ["InputError", "Run", "RunFailed", "extract_features", "run", "__version__"]
