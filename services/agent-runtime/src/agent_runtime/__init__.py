"""agent-runtime service."""
