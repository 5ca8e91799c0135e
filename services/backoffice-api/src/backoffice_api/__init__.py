"""backoffice-api service."""
