"""pepline: the CLI and the local service stack."""
