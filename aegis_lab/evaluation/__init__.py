"""The held-out evaluation: replay through the cluster, measure, report."""
