"""backoffice-api: The operators' API over leads, deals, contracts, instances, metrics and the bus itself."""

SERVICE = "backoffice-api"
