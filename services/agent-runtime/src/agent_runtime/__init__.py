"""agent-runtime: The conversational sales agent: consumes message.received, answers (message.sent), creates
and qualifies leads.
"""

SERVICE = "agent-runtime"
