"""The live page's defaults, in a module of their own: the CLI shows them in --help
without loading the renderers."""

DEFAULT_POLL_INTERVAL = 15
"""Seconds between two polls of live.json when the page cannot open the stream."""
MAX_POLL_INTERVAL = 3600
