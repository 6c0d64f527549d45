"""Storage: the append-only event log in one SQLite file."""

from .sqlite.log import Appended, EventLog, Record

__all__ = ["Appended", "EventLog", "Record"]
