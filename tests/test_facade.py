"""The facade by audience: each part of the service works on its own over one open log,
and the `Reporter` protocol's named methods all go through `submit` with the registry's
types and fields (the remote client implements only `submit`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from liveblog.domain.events import REGISTRY
from liveblog.errors import InvalidEvent
from liveblog.service.administration import Administration
from liveblog.service.facade import Liveblog
from liveblog.service.importing import Importing
from liveblog.service.reading import Reading
from liveblog.service.reporting import Reporter, ReportingService
from liveblog.store import EventLog

Call = tuple[str, dict[str, Any], dict[str, Any]]


class Recording(Reporter[list[Call]]):
    """A reporter that implements only `submit`, and records what it is asked."""

    def submit(
        self,
        event_type: str,
        fields: Mapping[str, Any],
        *,
        event_id: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Call]:
        return [(event_type, dict(fields), {"id": event_id, "conference": conference, "at": at})]

    def close(self) -> None:
        pass


NAMED: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("open_conference", ("c1",), {"title": "C"}),
    ("close_conference", (), {}),
    ("open_day", (1,), {"date": "2026-11-22"}),
    ("close_day", (), {}),
    ("start_session", ("S",), {"kind": "panel", "hosts": ["Ann"]}),
    ("end_session", (), {}),
    ("start_talk", ("T",), {"speaker": "Sam", "organisation": "Org"}),
    ("end_talk", (), {}),
    ("quote", ("Words",), {"speaker": "Sam"}),
    ("note", ("A note",), {}),
    ("photo", ("https://x.org/a.jpg",), {"caption": "A hall"}),
    ("link", ("https://x.org/s.pdf",), {"title": "Slides", "description": "Forty."}),
    ("correct", ("abc",), {"text": "New", "description": "D"}),
    ("retract", (), {"last": True, "reason": "Wrong"}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), NAMED, ids=[n for n, _, _ in NAMED])
def test_every_named_method_submits_its_registry_type(
    method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    [(event_type, fields, envelope)] = getattr(Recording(), method)(
        *args, **kwargs, at="10:00", event_id="e" * 32
    )
    command = REGISTRY[event_type].COMMAND
    assert command is not None and command.method == method
    assert set(fields) <= {a.name for a in command.arguments}
    assert envelope["id"] == "e" * 32 and envelope["at"] == "10:00"


def test_the_parts_work_alone_on_one_log(tmp_path: Path) -> None:
    with EventLog(tmp_path / "events.db") as log:
        reporter = ReportingService(log, "ann")
        reporter.open_conference("c1", title="C")
        reporter.open_day(1)
        [note] = reporter.submit("note.posted", {"text": "The room is full"}, event_id="n" * 32)
        reader = Reading(log, "ann")
        assert [e["id"] for e in reader.export()][-1] == "n" * 32
        assert "The room is full" in reader.summary(1)
        assert Importing(log, "ann").import_lines([]).added == 0
        Administration(log, "ed").create_token("bob")
        assert [t.name for t in Administration(log, "ed").tokens()] == ["bob"]
        assert note.author == "ann"


def test_the_local_service_refuses_what_no_command_appends(tmp_path: Path) -> None:
    with Liveblog(tmp_path / "events.db", "ann") as blog:
        with pytest.raises(InvalidEvent, match=r"no reporting command appends 'thing\.x'"):
            blog.submit("thing.x", {})
        blog.open_conference("c1", title="C")
        blog.open_day(1)
        with pytest.raises(InvalidEvent, match=r"a note\.posted command has no field 'day'"):
            blog.submit("note.posted", {"text": "t", "day": 3})
        with pytest.raises(InvalidEvent, match="a correction has no field 'colour'"):
            blog.correct(last=True, colour="red")


def test_ids_are_passed_not_given_by_a_context_manager() -> None:
    assert not hasattr(Liveblog, "giving_id")
