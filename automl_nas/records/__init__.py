"""Run records: the run-directory layout and its atomic writes."""
