"""The HTTP calls backoffice-api makes to the other services' internal APIs, and no more."""
