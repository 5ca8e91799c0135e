"""autentique-service service."""
