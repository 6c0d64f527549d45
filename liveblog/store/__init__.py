"""Storage: the append-only event log in one SQLite file."""

from .log import Appended, EventLog

__all__ = ["Appended", "EventLog"]
