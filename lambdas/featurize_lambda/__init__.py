"""The Lambda runtime package of featurize: thin handlers over a pure numeric core.

Everything in this package is shipped as the Lambda code asset and imports only what the AWS Lambda
Python runtime (boto3) and the stack's own dependency layer (pandas, numpy, pyarrow,
aws_lambda_powertools; built from requirements-lambda.txt by cdk_app/layer.py) provide.
"""
