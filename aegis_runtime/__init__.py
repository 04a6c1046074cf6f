"""Shared runtime of every AegisAI service: bootstrap, interceptors, telemetry, settings."""
