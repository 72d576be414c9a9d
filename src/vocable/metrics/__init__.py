"""Metrics: computed from the pipeline event stream."""
