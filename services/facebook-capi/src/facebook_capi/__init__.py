"""facebook-capi service."""
