"""The AWS backend: S3 segments and checkpoints, a DynamoDB index, and their setup."""
