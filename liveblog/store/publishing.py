"""What the feeds publisher has published: its state, behind a protocol.

Derived state, droppable like a projection. Per feeds directory (a *target*, named by
the random id in its marker file `feeds/.published`, and remembered with the
directory's path): the high-water mark `position` (every conference whose newest event
is at or before it has been published), the publishing options' `signature` (a change
republishes all), and `folders_mtime_ns` (feeds/'s own mtime when its folders were last
known complete). Per (target, conference): the position it was last published at. Per
file written: its size and mtime_ns, which the publisher's rotating audit compares
with the disk. Losing any of it costs one full publish, nothing more.

The SQLite implementation is `store.sqlite.published.SqlitePublished`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Target:
    id: str
    path: str
    position: int
    signature: str
    folders_mtime_ns: int
    generation: int
    published_at: str


@dataclass(frozen=True)
class FileRecord:
    id: int
    conference: str
    name: str
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Published:
    """One conference rendered by a publish: what to remember of it."""

    position: int  # its last_position in the snapshot it was rendered from
    files: list[tuple[str, int, int]]  # (name under its folder, size, mtime_ns)
    fresh: bool  # rendered from scratch: forget the files remembered before


class PublishState(Protocol):
    """The publisher's memory of what it wrote where."""

    def present(self) -> bool:
        """The state's storage exists (a reader never creates it)."""

    def ensure(self) -> None:
        """Create the storage if any part is missing (dropping the rest): cheap when
        present."""

    def drop(self) -> None:
        """Forget everything (the next publish of every target renders all)."""

    def target(self, target_id: str) -> Target | None:
        """The target of that marker id, or None."""

    def published_positions(self, target_id: str, slugs: Iterable[str]) -> dict[str, int]:
        """The position each of `slugs` was last published at in this target (if ever)."""

    def published_conferences(self, target_id: str) -> set[str]:
        """Every conference this target holds."""

    def last_file_id(self, target_id: str) -> int:
        """The highest file id of the target (0 if none)."""

    def audit_window(self, target_id: str, after: int, limit: int) -> list[FileRecord]:
        """Up to `limit` files of the target after id `after`, wrapping round to the
        first, in id order: the next window of the rotating audit (each file once)."""

    def record(
        self,
        *,
        target_id: str,
        path: str,
        seen: Target | None,
        head: int,
        signature: str,
        folders_mtime_ns: int,
        published: dict[str, Published],
        forget_all: bool,
        forget: Iterable[str] = (),
        now: str,
    ) -> None:
        """Remember one publish, atomically: the high-water mark moves to `head` only
        here, after every conference changed up to `head` was written.

        `seen` is the target as the publish found it. If another publish changed it
        meanwhile with other options, the files are a mix of both: the signature is
        left empty, so that the next publish renders everything again."""
