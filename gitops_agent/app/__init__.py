"""The application layer: open an environment, its desired state, sync with a record — what commands call."""
