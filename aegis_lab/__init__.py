"""Offline work, never loaded by a service: world generator, training, evaluation, contexts."""
