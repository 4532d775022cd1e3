"""Weights & Biases tracker for automl-nas (issue 19)."""
