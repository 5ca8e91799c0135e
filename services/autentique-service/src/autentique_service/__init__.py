"""autentique-service: Creates contracts for e-signature in Autentique and turns its webhooks into
contract.created / contract.signed.
"""

SERVICE = "autentique-service"
