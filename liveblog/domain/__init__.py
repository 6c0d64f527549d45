"""The domain: the event models and their registry, the envelope and export format,
upcasting, validated text, the clock, and a reporter's context asked of the event store."""
