"""CLI commands that each live in their own module (registered by ``automl_nas.cli``)."""
