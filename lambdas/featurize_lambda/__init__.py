"""The Lambda runtime package of featurize: thin handlers over a pure numeric core.

Everything in this package is shipped as the Lambda code asset and imports only what the AWS Lambda
Python runtime (boto3), the AWS-managed AWSSDKPandas layer (pandas, numpy, pyarrow) and the
Powertools layer (aws_lambda_powertools) provide.
"""
