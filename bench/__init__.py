"""Benchmarks: the open-loop load generator and `make bench`."""
