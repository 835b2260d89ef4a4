"""The CDK app of featurize: one stack with the bucket, the three functions and the state machine."""
