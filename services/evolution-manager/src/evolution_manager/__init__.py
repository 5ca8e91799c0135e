"""evolution-manager service."""
