"""The pinned entry and key moments of a conference, as its log says them now.

The commands `pin`, `unpin`, `highlight` and `unhighlight` decide from the log, never
from the timeline projection, which may lag behind it (the scheduler catches it up).
`fold` replays all the conference's marks with the projection's rules
(`store/*/timeline.py`): a mark takes effect only on a non-retracted entry of the
conference positioned before it; pinning another entry unpins the first; a retracted
entry is neither pinned nor a key moment. `pinned` and `key_moment` answer the same
for one question each, looking up one or two entries rather than every mark's target
(the commands use them). Marks are typed by people, so reading a conference's marks
(one indexed range per type) stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..domain.events import ENTRY_TYPES, HIGHLIGHT_LABEL_MAX
from ..domain.text import clean_line
from ..errors import InvalidEvent

if TYPE_CHECKING:
    from ..domain.envelope import Event
    from ..store.eventstore import EventStore


@dataclass
class Marks:
    """`pinned`: the pinned entry's id, or None; `key_moments`: id → label (or None)."""

    pinned: str | None = None
    key_moments: dict[str, str | None] = field(default_factory=dict)


def _position(event: Event) -> int:
    """A stored event's position (every event a log returns has one)."""
    assert event.position is not None
    return event.position


class _Entries:
    """Where each target entry is and when it was retracted, looked up once each."""

    def __init__(self, log: EventStore, conference: str) -> None:
        self.log = log
        self.conference = conference
        self._known: dict[str, tuple[int, int | None] | None] = {}

    def _lookup(self, target: str) -> tuple[int, int | None] | None:
        if target not in self._known:
            event = self.log.get(target)
            if (
                event is None
                or event.type not in ENTRY_TYPES
                or event.conference != self.conference
            ):
                self._known[target] = None
            else:
                retractions = [
                    _position(c)
                    for c in self.log.corrections_of(target)
                    if c.type == "entry.retracted"
                ]
                self._known[target] = (_position(event), min(retractions, default=None))
        return self._known[target]

    def takes_mark(self, target: str, position: int) -> bool:
        """Whether a mark at `position` applies to `target` (the projection's rule)."""
        found = self._lookup(target)
        if found is None:
            return False
        entry_position, retracted = found
        return entry_position < position and (retracted is None or retracted > position)

    def retracted(self, target: str) -> bool:
        found = self._lookup(target)
        return found is not None and found[1] is not None


def fold(log: EventStore, conference: str) -> Marks:
    """The conference's marks now: every mark of its log, in order."""
    entries = _Entries(log, conference)
    out = Marks()
    for event in log.marks_of(conference):
        target = _target(event)
        if not entries.takes_mark(target, _position(event)):
            continue  # an import's stray mark: the projection ignores it too
        if event.type == "entry.pinned":
            out.pinned = target
        elif event.type == "entry.unpinned":
            if out.pinned == target:
                out.pinned = None
        elif event.type == "entry.highlighted":
            out.key_moments[target] = getattr(event.data, "label", None)
        else:
            out.key_moments.pop(target, None)
    if out.pinned is not None and entries.retracted(out.pinned):
        out.pinned = None
    for target in [t for t in out.key_moments if entries.retracted(t)]:
        del out.key_moments[target]
    return out


def _target(event: Event) -> str:
    return str(getattr(event.data, "target", ""))


def pinned(log: EventStore, conference: str) -> str | None:
    """The conference's pinned entry, as `fold` says it, from its latest pin that took
    effect: every earlier one was replaced by it. A few lookups, however many marks."""
    entries = _Entries(log, conference)
    unpinned_later: set[str] = set()
    for event in reversed(log.marks_of(conference)):
        target = _target(event)
        if event.type == "entry.unpinned":
            unpinned_later.add(target)
        elif event.type == "entry.pinned" and entries.takes_mark(target, _position(event)):
            if target in unpinned_later or entries.retracted(target):
                return None
            return target
    return None


def key_moment(log: EventStore, conference: str, target: str) -> tuple[bool, str | None]:
    """Whether entry `target` is a key moment now, and its label (as `fold` says it):
    only that entry's marks are replayed."""
    entries = _Entries(log, conference)
    state: tuple[bool, str | None] = (False, None)
    for event in log.marks_of(conference):
        if _target(event) != target or not entries.takes_mark(target, _position(event)):
            continue
        if event.type == "entry.highlighted":
            state = (True, getattr(event.data, "label", None))
        elif event.type == "entry.unhighlighted":
            state = (False, None)
    return (False, None) if entries.retracted(target) else state


def check_label(label: str) -> str:
    """A key moment's label as typed: one line, not blank, at most 80 characters.

    The model would fold a multi-line label into one; a reporter who typed two lines
    more likely pasted the wrong thing, so it is refused, not silently joined."""
    if "\n" in label or "\r" in label:
        raise InvalidEvent("--label must be one line")
    cleaned = clean_line(label)
    assert isinstance(cleaned, str)  # clean_line keeps a str a str
    if not cleaned:
        raise InvalidEvent("--label must not be empty (leave it out for no label)")
    if len(cleaned) > HIGHLIGHT_LABEL_MAX:
        raise InvalidEvent(f"--label is {len(cleaned)} characters: at most {HIGHLIGHT_LABEL_MAX}")
    return cleaned
