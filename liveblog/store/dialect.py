"""One SQL text for both backends, where the statement is the same but for placeholders.

SQL stays per backend wherever the dialects really differ (arrays, JSON, upserts); a
backend-neutral module (`store/log_reads.py`, `store/timeline_reads.py`…) writes only
the statements both databases run as they are, with SQLite's `?` placeholders, and
asks its backend's `Dialect` for the text to execute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol


class Rows(Protocol):
    """What both drivers' cursors give (`store.sqlite.driver.Cursor`, the PostgreSQL one)."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def __iter__(self) -> Iterator[tuple[Any, ...]]: ...


class Executes(Protocol):
    """A connection of either backend, as the shared modules use it."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Rows: ...


_CACHED = 4_096
"""Texts kept converted per dialect: more than the modules write (a bound, not a tuning)."""


class Dialect:
    """How one backend writes a statement given in SQLite's form."""

    def __init__(self, name: str, placeholder: str) -> None:
        self.name = name
        self.placeholder = placeholder
        # Texts are module constants (or built from a handful of them): converted once.
        self._cache: dict[str, str] = {}

    def insert_ignoring(self, text: str) -> str:
        """An `INSERT INTO … VALUES (…)` (SQLite's form) that leaves a row whose key is
        stored already alone, in this dialect (the texts differ in where they say it)."""
        if self.placeholder == "?":
            return text.replace("INSERT INTO", "INSERT OR IGNORE INTO", 1)
        return self.sql(text) + " ON CONFLICT DO NOTHING"

    def sql(self, text: str) -> str:
        """`text` with each `?` outside string literals turned into this dialect's
        placeholder; a text without one is taken as already written for it (a backend
        passing its own SQL through a shared helper, `LogReads._one`).

        A `%` beside a `?` is refused rather than escaped: psycopg reads `%` as a
        placeholder only when parameters are passed, so one text could not be right both
        ways; a statement with one (a LIKE pattern, strftime) stays in its backend."""
        if self.placeholder == "?":
            return text
        done = self._cache.get(text)
        if done is None:
            # Split on quotes: the even parts are outside literals ('' escapes stay even).
            parts = text.split("'")
            for i in range(0, len(parts), 2):
                parts[i] = parts[i].replace("?", self.placeholder)
            done = "'".join(parts)
            if done != text and "%" in text:
                raise ValueError(f"a shared statement may not hold '%': {text!r}")
            if len(self._cache) < _CACHED:
                self._cache[text] = done
        return done


SQLITE = Dialect("sqlite", "?")
POSTGRES = Dialect("postgresql", "%s")
