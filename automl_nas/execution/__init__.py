"""Where trials run: locally or on Ray."""
