"""Host infrastructure registered as plugins, exactly like third-party ones."""
