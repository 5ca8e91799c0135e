"""Clients of the external APIs this service calls."""
