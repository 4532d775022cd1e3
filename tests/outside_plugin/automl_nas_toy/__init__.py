"""automl-nas-toy: one of everything, tiny, for tests and for CONTRIBUTING.md."""
