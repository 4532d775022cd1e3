"""NAS-Bench-Graph tables as an automl-nas evaluator."""
