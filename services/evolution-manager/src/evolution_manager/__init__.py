"""evolution-manager: Receives WhatsApp webhooks from the Evolution API and publishes message.received and
instance.status; delivers message.sent replies.
"""

SERVICE = "evolution-manager"
