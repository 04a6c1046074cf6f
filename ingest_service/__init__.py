"""Streaming ingestion: logins from a Kinesis stream, scored by the router, decisions published."""
