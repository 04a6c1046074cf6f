"""The audit service: the only writer of storage; the decision log and its index."""
