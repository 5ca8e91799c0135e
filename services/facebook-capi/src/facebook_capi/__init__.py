"""facebook-capi: Turns lead.created, lead.qualified and contract.signed into Meta Conversions API events."""

SERVICE = "facebook-capi"
