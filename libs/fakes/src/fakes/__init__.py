"""Local fakes of the three external APIs (Evolution, Autentique, Meta Graph API)."""

__all__: list[str] = []
