"""Names shared across the layers: the CDK app, the local engine and the handlers import them from here.

Only the standard library: ``cdk synth`` and the client import this module without pandas or pyarrow.
"""

from __future__ import annotations

#: Powertools service name (``POWERTOOLS_SERVICE_NAME``, the loggers' ``service``) of every function.
SERVICE_NAME = "featurize"

#: The stack bucket: chunks, results, manifests and default outputs live there.
ENV_BUCKET = "FEATURIZE_BUCKET"
#: Comma-separated buckets the deployment may read inputs from (unset: unrestricted, the local engine).
ENV_INPUT_BUCKETS = "FEATURIZE_INPUT_BUCKETS"
#: Comma-separated buckets the deployment may write outputs to (unset: unrestricted).
ENV_OUTPUT_BUCKETS = "FEATURIZE_OUTPUT_BUCKETS"
#: The stack's default ``max_concurrency``, which the partition step echoes into its output for the Map.
ENV_MAX_CONCURRENCY = "FEATURIZE_MAX_CONCURRENCY"

#: Handlers inside the code asset (``module.function``), per function role.
PARTITION_HANDLER = "featurize_lambda.partition.handler"
FEATURES_HANDLER = "featurize_lambda.features.handler"
REDUCE_HANDLER = "featurize_lambda.reduce.handler"
#: Function role -> handler, in workflow order.
HANDLERS = {"partition": PARTITION_HANDLER, "features": FEATURES_HANDLER, "reduce": REDUCE_HANDLER}
