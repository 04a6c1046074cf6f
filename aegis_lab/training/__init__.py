"""Offline training on a generated world: dataset, detection model, calibration, combiner."""
