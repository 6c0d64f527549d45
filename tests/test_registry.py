"""The registry is complete: every event type declares what the rest of the code asks of
it, and the front ends are derived from it.

`problems(model)` lists what a type lacks: a sample (EXAMPLE) valid for the model, a
reporting command (or a documented reason for none), a one-line rendering of its own, a
complete upcaster chain. It runs over `REGISTRY`, and over a throwaway model built here
to show that it fails for an incomplete type. The feed and summary renderings are
checked by tests/test_registry_renderings.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal, get_args

import click
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from liveblog.domain.events import (
    CORRECTION_FIELDS,
    REGISTRY,
    Argument,
    Command,
    EntryKind,
    EventData,
    Upcaster,
)

NO_COMMAND: Mapping[str, str] = MappingProxyType({})
"""Types no reporting command appends, each with the reason (none today: the structural
types have theirs, `entry.corrected` is `correct`'s, `entry.retracted` `retract`'s)."""


def problems(model: type[EventData]) -> list[str]:
    """What `model` lacks of what the registry promises; empty for a complete type."""
    event_type = model.model_fields["type"].default
    found = []
    try:
        sample = model.model_validate(dict(model.EXAMPLE))
    except ValidationError as exc:
        sample = None
        found.append(f"{event_type}: its EXAMPLE does not validate ({exc.error_count()} errors)")
    if model.COMMAND is None and event_type not in NO_COMMAND:
        found.append(f"{event_type}: no COMMAND (nor a reason in NO_COMMAND)")
    if model.COMMAND is not None:
        from liveblog.service.reporting import Reporter

        # A placed entry needs no method of its own (the generic entry path posts it);
        # any other command is the service method of that name.
        method = model.COMMAND.method
        if not model.COMMAND.placed and not callable(getattr(Reporter, method, None)):
            found.append(f"{event_type}: Reporter has no method {method!r}")
        fields = set(model.model_fields)
        for argument in model.COMMAND.arguments:
            placed = model.COMMAND.placed
            if placed and argument.name not in fields:
                found.append(f"{event_type}: argument {argument.name!r} is no field")
    if "line" not in vars(model):
        found.append(f"{event_type}: no one-line rendering (line())")
    elif sample is not None:
        try:
            if not isinstance(sample.line(), str):
                found.append(f"{event_type}: line() is not text")
        except Exception as exc:
            found.append(f"{event_type}: line() of its EXAMPLE raised {exc!r}")
    missing = [n for n in range(1, model.SCHEMA_VERSION) if n not in model.UPCASTERS]
    if missing:
        found.append(f"{event_type}: no upcaster from schema version {missing}")
    extra = [n for n in model.UPCASTERS if not 1 <= n < model.SCHEMA_VERSION]
    if extra:
        found.append(f"{event_type}: upcasters for versions it does not have {extra}")
    return found


@pytest.mark.parametrize("event_type", list(REGISTRY))
def test_every_type_is_complete(event_type: str) -> None:
    assert problems(REGISTRY[event_type]) == []


def _older(data: dict[str, Any]) -> dict[str, Any]:
    return data


class Incomplete(EventData):
    """What a new type looks like before it is finished: a model and nothing else, with
    a schema version 3 and only the upcaster from 1."""

    SCHEMA_VERSION: ClassVar[int] = 3
    UPCASTERS: ClassVar[Mapping[int, Upcaster]] = MappingProxyType({1: _older})
    type: Literal["thing.happened"] = "thing.happened"
    what: str


def test_the_check_fails_for_an_incomplete_type() -> None:
    assert problems(Incomplete) == [
        "thing.happened: its EXAMPLE does not validate (1 errors)",
        "thing.happened: no COMMAND (nor a reason in NO_COMMAND)",
        "thing.happened: no one-line rendering (line())",
        "thing.happened: no upcaster from schema version [2]",
    ]
    with pytest.raises(NotImplementedError, match="Incomplete has no one-line rendering"):
        Incomplete(what="x").line()


class Finished(Incomplete):
    """The same type completed: a sample, a command, a line, the whole chain."""

    UPCASTERS: ClassVar[Mapping[int, Upcaster]] = MappingProxyType({1: _older, 2: _older})
    EXAMPLE: ClassVar[Mapping[str, Any]] = MappingProxyType({"what": "a thing"})
    COMMAND: ClassVar[Command | None] = Command(
        name=("thing",),
        method="thing",  # no such method: `Reporter.submit` posts it all the same
        help="Say a thing happened.",
        arguments=(Argument("what", required=True),),
        placed=True,
    )

    def line(self) -> str:
        return self.what


def test_a_finished_type_passes_and_its_front_ends_derive() -> None:
    """Nothing but the model is needed for its draft fields and its CLI command."""
    from liveblog.cli import main as cli_module
    from liveblog.service.drafts import draft_fields

    assert problems(Finished) == []
    assert Finished.COMMAND is not None
    assert draft_fields(Finished, Finished.COMMAND) == {"what": str}

    def callback(**values: Any) -> None:
        click.echo(repr(sorted(values.items())))

    command = click.command("thing", help=Finished.COMMAND.help)(
        cli_module._parameters(Finished, Finished.COMMAND, callback)
    )
    shown = CliRunner().invoke(command, ["--help"])
    assert "Usage: thing [OPTIONS] WHAT" in shown.output
    assert "--conference SLUG" in shown.output
    ran = CliRunner().invoke(command, ["it", "--at", "10:00"])
    assert ran.output == "[('at', '10:00'), ('conference', None), ('what', 'it')]\n"


# -- the front ends are derived ---------------------------------------------------------------


def _cli_command(words: tuple[str, ...]) -> click.Command | None:
    from liveblog.cli.main import cli

    found: click.Command | None = cli
    for word in words:
        if not isinstance(found, click.Group):
            return None
        found = found.commands.get(word)
    return found


@pytest.mark.parametrize("event_type", [t for t, m in REGISTRY.items() if m.COMMAND])
def test_every_command_is_in_the_cli_the_drafts_and_the_api(event_type: str) -> None:
    from liveblog.http.api import Draft
    from liveblog.service.drafts import COMMANDS

    command = REGISTRY[event_type].COMMAND
    assert command is not None
    cli_command = _cli_command(command.name)
    assert cli_command is not None, command.name
    assert cli_command.help == command.help
    assert COMMANDS[event_type][0] == command.method
    assert event_type in get_args(Draft.model_fields["type"].annotation)


def test_correct_takes_every_correction_field() -> None:
    corrected = REGISTRY["entry.corrected"].COMMAND
    assert corrected is not None
    given = {a.name for a in corrected.arguments} - {"target", "last"}
    assert given == set(CORRECTION_FIELDS)
    correct = _cli_command(("correct",))
    assert correct is not None
    options = {p.name for p in correct.params if isinstance(p, click.Option)}
    assert set(CORRECTION_FIELDS) - {"text"} <= options


def test_every_correctable_field_is_a_field_of_its_kind() -> None:
    for event_type, model in REGISTRY.items():
        kind: EntryKind | None = model.ENTRY
        if kind is None:
            continue
        for correction, field in kind.correctable.items():
            assert correction in CORRECTION_FIELDS, (event_type, correction)
            assert field in model.model_fields, (event_type, field)
