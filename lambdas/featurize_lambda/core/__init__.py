"""The pure core: numeric and table logic with no boto3, no environment, no I/O."""
