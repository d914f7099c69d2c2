"""AWS adapters: the only modules that import boto3; AWS errors become domain errors."""
