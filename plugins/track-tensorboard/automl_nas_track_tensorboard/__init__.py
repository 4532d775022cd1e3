"""TensorBoard tracker for automl-nas (issue 19)."""
