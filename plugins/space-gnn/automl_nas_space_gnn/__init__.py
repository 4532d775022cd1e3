"""NAS-Bench-Graph GNN macro space for automl-nas."""
