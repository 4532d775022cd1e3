"""The one-shot search engine and its building blocks; knows no specific method."""
