"""One genotype outside a search: evaluate it (``automl eval``) or export it (``automl export``)."""
