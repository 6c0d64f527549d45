"""The `liveblog` command: a thin click layer over the service's parts (liveblog.service.facade).

The reporting commands are derived from the registry (liveblog.domain.events): each type's
`Command` gives the words, help and arguments of its CLI command, which hands what was
typed to `Reporter.submit` (the local log, or the server in LIVEBLOG_SERVER); a new type
with a command needs no edit here. Only `correct` and `retract` have callbacks of their
own (which entry, or --last), their options still the registry's.

Library errors become one-line `ClickException`s here, at the edge (exit 1); click's own
usage errors exit 2. The reporting path imports only the log and the event models.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, get_args, get_origin

# We use no pydantic plugins; looking them up scans every installed package's metadata.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import click

from ..domain.events import REGISTRY, Argument, Command, EventData
from ..errors import LiveblogError
from ..service.roles import REPORTER, ROLES, Role

if TYPE_CHECKING:
    from ..domain.envelope import Event
    from ..service.administration import Administration
    from ..service.facade import Liveblog
    from ..service.reading import Reading
    from ..service.reporting import Reporter
    from ..store.leadership import Leadership
    from .remote import Queued, RemoteReporter

F = TypeVar("F", bound=Callable[..., Any])
Reported: TypeAlias = "list[Event] | Queued"
"""What a reporting command returns: the events appended, or (remote) its queued draft."""

FOLLOW_POLL_SECONDS = 0.25
MAX_POSITION = 2**63 - 1  # SQLite's largest integer


def default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "reporter"


class State:
    """Global options, and the service opened on first use (never for --help).

    Each command asks for the part it needs: `reporter` (the reporting commands, local
    or remote), `reader` (the read side of an existing log), `admin` (tokens, webhooks)
    or the whole `service` (the facade that composes them, on one open log)."""

    def __init__(self, db: str, feeds: str, author: str) -> None:
        self.db = db
        self.feeds = feeds
        self.author = author
        self._service: Liveblog | None = None
        self._reporter: Reporter[Reported] | None = None

    @property
    def service(self) -> Liveblog:
        if self._service is None:
            from ..service.facade import Liveblog

            self._service = Liveblog(self.db, self.author)
        return self._service

    @property
    def reporter(self) -> Reporter[Reported]:
        """Where reporting commands go: the server in LIVEBLOG_SERVER, else the local log."""
        if self._reporter is None:
            self._reporter = remote_reporter() or self.service
        return self._reporter

    @property
    def path(self) -> str:
        """The file --db names (the path of a `sqlite:///` URL); another backend's URL
        is refused here, in one line (UnsupportedStore)."""
        from ..store.factory import sqlite_path

        try:
            return str(sqlite_path(self.db))
        except LiveblogError as exc:
            raise click.ClickException(str(exc)) from None

    @property
    def is_file(self) -> bool:
        """--db names a SQLite file (else a database server's URL)."""
        from ..store.display import is_file

        return is_file(self.db)

    @property
    def shown(self) -> str:
        """--db as a message shows it (a URL without its password)."""
        from ..store.display import shown

        return shown(self.db)

    def missing(self) -> bool:
        """No log file yet (an empty log); a path in no directory is an error. A
        server's database is never missing: opening it creates its tables."""
        if not self.is_file:
            return False
        if os.path.exists(self.path):
            return False
        parent = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(parent):
            raise click.ClickException(f"cannot open {self.db}: no such directory {parent}")
        return True

    def _existing(self) -> Liveblog:
        """The service of a log that must exist: a missing one is an error, not a new
        empty file left behind by a typo in --db."""
        if self._service is None and self.is_file and not os.path.exists(self.path):
            raise click.ClickException(
                f"no event log at {self.db}: check --db / LIVEBLOG_DB, or start one with "
                "`liveblog conference open` or `liveblog import`"
            )
        return self.service

    @property
    def reader(self) -> Reading:
        """The read side, for a command that only reads (the log must exist)."""
        return self._existing()

    @property
    def admin(self) -> Administration:
        """Tokens, webhooks and the secrets' key (creates the log if need be)."""
        return self.service

    @property
    def existing_admin(self) -> Administration:
        """`admin` for a command that changes what must already be there."""
        return self._existing()

    def idle(self) -> None:
        """Give back the service's store while a long command runs on stores of its own
        (`run`, `serve`): on a database server its connection returns to the pool. A
        SQLite file's stays open, as it always has."""
        if self._service is not None and not self.is_file:
            self._service.close()
            self._service = None

    def close(self) -> None:
        if self._reporter is not None and self._reporter is not self._service:
            self._reporter.close()  # the remote reporter's connection
        if self._service is not None:
            self._service.close()


def remote_reporter() -> RemoteReporter | None:
    """A RemoteReporter when LIVEBLOG_SERVER is set (it needs LIVEBLOG_TOKEN too)."""
    server = os.environ.get("LIVEBLOG_SERVER")
    if not server:
        return None
    token = os.environ.get("LIVEBLOG_TOKEN")
    if not token:
        raise click.ClickException(
            "LIVEBLOG_SERVER is set but LIVEBLOG_TOKEN is not: ask the editor for a token "
            "(`liveblog token create NAME` on the server)"
        )
    if not server.startswith(("http://", "https://")):
        raise click.ClickException(
            f"LIVEBLOG_SERVER {server!r} must start with http:// or https://"
        )
    from .remote import Outbox, Remote, RemoteReporter

    return RemoteReporter(Remote(server, token), Outbox(server), echo_events)


def one_line(message: str) -> str:
    """A message is one line, whatever text it quotes."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn library and database errors into one clean line and exit status 1."""
    from ..errors import DriverError

    try:
        yield
    except DriverError as exc:
        # The database's own failure, in its words (the store maps the driver's errors).
        raise click.ClickException(f"database error: {one_line(str(exc))}") from None
    except LiveblogError as exc:
        raise click.ClickException(one_line(str(exc))) from None


def echo_events(events: Reported) -> None:
    """One line per appended event; or, in remote mode, the line saying it was queued."""
    from .lines import appended

    if not isinstance(events, list):  # remote.Queued
        click.echo(events.line())
        return
    for event in events:
        click.echo(appended(event))


def reporting(fn: F) -> F:
    """The options every reporting command takes."""
    fn = click.option(
        "--at",
        "at",
        metavar="TIME",
        help="When it happened (ISO 8601, or HH:MM today). A time without an offset is "
        "read in the conference's timezone. Default: now.",
    )(fn)
    fn = click.option(
        "--conference",
        "conference",
        metavar="SLUG",
        help="The conference (default: the one you last posted to, else the only one open).",
    )(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="LIVEBLOG_DB",
    default="events.db",
    show_default=True,
    metavar="PATH|URL",
    help="The event log: a SQLite file, or a postgresql:// URL (env LIVEBLOG_DB).",
)
@click.option(
    "--feeds",
    envvar="LIVEBLOG_FEEDS",
    default="feeds",
    show_default=True,
    metavar="DIR",
    help="Where feeds are written (env LIVEBLOG_FEEDS).",
)
@click.option(
    "--author",
    envvar="LIVEBLOG_AUTHOR",
    default=None,
    metavar="NAME",
    help="Who is reporting (env LIVEBLOG_AUTHOR; default: your login name).",
)
@click.version_option(package_name="liveblog")
@click.pass_context
def cli(ctx: click.Context, db: str, feeds: str, author: str | None) -> None:
    """Live-blog a conference into an append-only event log.

    Every command appends events to, or reads from, the log in --db. Start with
    `liveblog conference open SLUG --title TITLE`, then `liveblog day open 1`.
    """
    state = State(db, feeds, author or default_author())
    ctx.obj = state
    ctx.call_on_close(state.close)


def state() -> State:
    return click.get_current_context().find_object(State)  # type: ignore[return-value]


# -- reporting commands: derived from the registry -------------------------------------


@cli.group()
def conference() -> None:
    """Open or close coverage of a conference."""


@cli.group()
def day() -> None:
    """Open or close a conference day."""


@cli.group()
def session() -> None:
    """Start or end a session (plenary, keynote, breakout, roundtable, panel, demo…)."""


@cli.group()
def talk() -> None:
    """Start or end a talk inside your open session."""


GROUPS: dict[str, click.Group] = {"conference": conference, "day": day, "session": session}
GROUPS["talk"] = talk
"""The command groups a two-word reporting command (`talk start`) goes in: a new group
needs its own help, so it is declared here, not made up."""


def _value_type(model: type[EventData], name: str) -> tuple[click.ParamType[Any] | None, Any]:
    """The click type and default of a command's value, from the model's field of that
    name: a bounded int is an IntRange, a Literal a Choice; None means a plain string."""
    field = model.model_fields.get(name)
    if field is None:
        return None, None
    default = None if field.is_required() else field.default
    if field.annotation is int:
        bounds = {
            key: getattr(m, key) for m in field.metadata for key in ("ge", "le") if hasattr(m, key)
        }
        return click.IntRange(bounds.get("ge"), bounds.get("le")), default
    if get_origin(field.annotation) is Literal:
        return click.Choice(get_args(field.annotation)), default
    return None, default


def _parameter(model: type[EventData], argument: Argument) -> Callable[[F], F]:
    """The click decorator for one of a command's arguments."""
    value_type, default = _value_type(model, argument.name)
    settings: dict[str, Any] = {}
    if value_type is not None:
        settings["type"] = value_type
    if argument.metavar is not None:
        settings["metavar"] = argument.metavar
    if argument.option is None:
        return click.argument(argument.name, required=argument.required, **settings)
    if argument.flag:
        return click.option(argument.option, argument.name, is_flag=True, help=argument.help)
    if argument.multiple:
        settings["multiple"] = True
    elif default is not None:
        settings.update(default=default, show_default=True)
    return click.option(
        argument.option,
        argument.name,
        required=argument.required,
        help=argument.help,
        **settings,
    )


def _parameters(model: type[EventData], command: Command, fn: F) -> F:
    """`fn` with the command's arguments in their order, then --conference and --at."""
    if command.names_conference:
        fn = click.option("--at", "at", metavar="TIME", help=command.at_help)(fn)
    else:
        fn = reporting(fn)
    for argument in reversed(command.arguments):
        fn = _parameter(model, argument)(fn)
    return fn


def _reporting_command(event_type: str, model: type[EventData], command: Command) -> None:
    """Add `liveblog <command.name>`: its values go to `Reporter.submit` as they are."""

    def report(**values: Any) -> None:
        conference, at = values.pop("conference", None), values.pop("at", None)
        with user_errors():
            echo_events(state().reporter.submit(event_type, values, conference=conference, at=at))

    *group_name, name = command.name
    group = GROUPS[group_name[0]] if group_name else cli
    group.command(name, help=command.help)(_parameters(model, command, report))


# Written by hand: correct and retract (which entry, or --last, is a usage rule of
# their own); their options are still the registry's.
HAND_WRITTEN = ("entry.corrected", "entry.retracted")

for _type, _model in REGISTRY.items():
    if _model.COMMAND is not None and _type not in HAND_WRITTEN:
        _reporting_command(_type, _model, _model.COMMAND)


def _edit_command(event_type: str) -> Callable[[F], click.Command]:
    """`cli.command` for `correct` / `retract`, with the arguments the registry declares."""
    model = REGISTRY[event_type]
    command = model.COMMAND
    assert command is not None

    def decorate(fn: F) -> click.Command:
        return cli.command(command.name[0], help=command.help)(_parameters(model, command, fn))

    return decorate


@_edit_command("entry.corrected")
def correct(
    target: str | None,
    text: str | None,
    last: bool,
    conference: str | None,
    at: str | None,
    **changes: str | None,
) -> None:
    if last and target is not None:
        if text is not None:
            raise click.UsageError("with --last, give only the new TEXT, not an EVENT_ID")
        target, text = None, target
    if not last and target is None:
        raise click.UsageError("name the entry: an EVENT_ID (or a unique prefix), or --last")
    if text is None and all(value is None for value in changes.values()):
        from ..service.reporting import correction_options

        raise click.UsageError(f"say what to correct: {correction_options()}")
    with user_errors():
        echo_events(
            state().reporter.correct(
                target, last=last, text=text, **changes, conference=conference, at=at
            )
        )


@_edit_command("entry.retracted")
def retract(
    target: str | None, last: bool, reason: str | None, conference: str | None, at: str | None
) -> None:
    if last == (target is not None):
        raise click.UsageError("name the entry: an EVENT_ID (or a unique prefix), or --last")
    with user_errors():
        echo_events(
            state().reporter.retract(target, last=last, reason=reason, conference=conference, at=at)
        )


# -- bulk and reading ----------------------------------------------------------------


@cli.command("import")
@click.argument("file", type=click.File("rb"), metavar="FILE|-")
def import_(file: Any) -> None:
    """Append events from JSON Lines (the export format); idempotent by event id.

    The whole file is checked first: one bad line refuses it all, naming the line.
    """
    name = getattr(file, "name", "-")
    name = "stdin" if name in ("<stdin>", "-") or not isinstance(name, str) else name
    from ..service.importing import parse_import

    with user_errors():
        parsed = parse_import(file, source=name)  # before the log is opened (or created)
        result = state().service.import_parsed(parsed)
    click.echo(f"imported {result.added} events ({result.skipped} already in the log)")


@cli.command()
@click.option(
    "--since",
    type=click.IntRange(0, MAX_POSITION),
    default=0,
    metavar="POSITION",
    help="Only events after this position.",
)
def export(since: int) -> None:
    """Write the log as JSON Lines, the format `import` reads."""
    with user_errors():
        if state().missing():
            return  # an empty log; and no file left behind by a typo in --db
        for obj in state().service.export(since):
            click.echo(json.dumps(obj, ensure_ascii=False))


@cli.command()
@click.option(
    "--since",
    type=click.IntRange(0, MAX_POSITION),
    default=0,
    metavar="POSITION",
    help="Only events after this position.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing events as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines (the export format).")
def log(since: int, follow: bool, as_json: bool) -> None:
    """Show the log, oldest first."""
    from .lines import log_line

    def show(event: Event) -> int:
        """Print `event`; returns its position (every event read has one)."""
        if as_json:
            click.echo(json.dumps(event.to_export(), ensure_ascii=False))
        else:
            click.echo(log_line(event))
        assert event.position is not None
        return event.position

    with user_errors():
        if not follow and state().missing():
            return  # an empty log; and no file left behind by a typo in --db
        events_log = state().service.log
        stopping = _stop_on_signals() if follow else [False]
        position = since
        # Taken before the backlog is read, so an event committed in between is not missed.
        seen = events_log.change_mark()
        for event in events_log.read(after=position):
            if stopping[0]:
                return
            position = show(event)
        sys.stdout.flush()
        while follow and not stopping[0]:
            time.sleep(FOLLOW_POLL_SECONDS)
            current = events_log.change_mark()
            if current == seen or stopping[0]:
                continue
            seen = current
            for event in events_log.read(after=position):
                position = show(event)
            sys.stdout.flush()


def _stop_on_signals() -> list[bool]:
    """A flag that SIGINT / SIGTERM set, for a loop that runs until the user stops it.

    Not KeyboardInterrupt: raised between any two bytecodes, it can land in a finalizer
    (a generator's `finally`, a connection's cleanup), where Python ignores it and the
    loop goes on forever. A flag is read only where the loop is ready to stop.
    """
    import signal

    flag = [False]

    def stop(signum: int, frame: object) -> None:
        flag[0] = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    return flag


@cli.command()
@click.argument("day", type=click.IntRange(1, 366))
@click.option("--conference", metavar="SLUG", help="The conference (default: your current one).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html", "json"]),
    default="markdown",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="TIME",
    help="The summary as it stood at TIME (what the log had recorded by then).",
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Render with your own jinja2 template instead of --format.",
)
def summary(
    day: int, conference: str | None, fmt: str, as_of: str | None, template: Path | None
) -> None:
    """Print the summary of day DAY ("<conference> – Day N Reflections")."""
    with user_errors():
        text = state().reader.summary(
            day, conference=conference, fmt=fmt, as_of=as_of, template=template
        )
    click.echo(text, nl=not text.endswith("\n"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Show the log head, each projection's position and lag, and feed freshness."""
    from ..feeds import freshness

    with user_errors():
        stores = None
        if not state().missing():
            report = state().service.status()
            stores = state().service.stores
        else:
            from ..projections import default_projections

            report = {
                "head": 0,
                "projections": [
                    {"name": p.name, "version": p.version, "position": 0, "lag": 0}
                    for p in default_projections()
                ],
            }
        timeline = stores.timeline if stores is not None else None
        published = stores.published if stores is not None else None
        # On PostgreSQL the database's documents are what every node serves: report them.
        in_store = stores is not None and stores.documents is not None
        report["feeds"] = freshness(
            timeline, published, Path(state().feeds), report["head"], documents=in_store
        )
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"log head: {report['head']}")
    for p in report["projections"]:
        click.echo(
            f"projection {p['name']} v{p['version']}: position {p['position']}, lag {p['lag']}"
        )
    hooks = report.get("webhooks")
    if hooks and hooks["subscriptions"]:
        click.echo(
            f"webhooks: {hooks['active']} of {hooks['subscriptions']} active, "
            f"{hooks['pending']} pending, {hooks['dead']} dead-lettered, "
            f"{hooks['delivered']} delivered, up to {hooks['unqueued']} events not queued yet"
        )
    feeds = report["feeds"]
    if not feeds["published"]:
        click.echo(f"feeds: none published in {feeds['dir']} (run `liveblog publish`)")
        return
    click.echo(
        f"feeds {feeds['dir']}: published at position {feeds['position']}, lag {feeds['lag']}"
        f" ({feeds['published_at']})"
    )
    for c in feeds["lagging_conferences"]:
        click.echo(
            f"feeds {c['conference']}: published at position {c['position']}, "
            f"events up to {c['newest']} not published yet"
        )
    more = feeds["lagging"] - len(feeds["lagging_conferences"])
    if more > 0:
        click.echo(f"feeds: {more:,} more conferences with events not yet published")


@cli.command()
def rebuild() -> None:
    """Drop every projection and replay the whole log into it."""
    with user_errors():
        service = state().service
        total = service.log.head()
        if sys.stderr.isatty():
            with click.progressbar(length=total, label="rebuilding", file=sys.stderr) as bar:
                applied = service.rebuild(bar.update)
        else:
            applied = service.rebuild()
    for name, count in applied.items():
        click.echo(f"rebuilt {name}: {count} events")


@cli.command()
@click.argument("dest", type=click.Path(path_type=Path), metavar="DEST")
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
def backup(dest: Path, force: bool) -> None:
    """Write a consistent copy of the log to DEST (0600) while others keep writing.

    For a SQLite file; on PostgreSQL use the server's own tools (pg_dump)."""
    from ..store.factory import open_sqlite
    from ..store.sqlite.backup import backup as backup_log

    with user_errors():
        if not state().is_file:
            raise click.ClickException(
                "backup copies a SQLite file; on PostgreSQL use pg_dump "
                f"(e.g. pg_dump -Fc -f liveblog.dump DBNAME) for {state().shown}"
            )
        reading = state().db
        if state().missing():
            raise click.ClickException(f"no event log at {reading}: nothing to back up")
        with open_sqlite(reading, readonly=True) as log:
            result = backup_log(log, dest, force=force)
    click.echo(f"backed up {reading} to {result.path}: {result.head} events, {result.size} bytes")


@cli.command()
def verify() -> None:
    """Check the log: integrity, its invariants and triggers, projections against a rebuild.

    Prints one line per check ("ok: …" or "problem: …") and exits 1 if any problem was
    found. Reads only: it can run beside reporters and `serve`, or on a backup (--db).
    On PostgreSQL: the schema, the log's triggers and invariants, and the webhooks'
    state (the database's pages are the server's to check: amcheck).
    """
    from ..store.factory import open_sqlite, stores_on
    from ..store.sqlite.verify import Finding
    from ..store.sqlite.verify import verify as verify_log
    from ..webhooks.queue import verify_queue_state
    from ..webhooks.secretkey import Keyring
    from ..webhooks.subscriptions import verify_secrets

    with user_errors():
        if not state().is_file:
            findings = _verify_server(state().db)
            reading = state().shown
        else:
            reading = state().db
            if state().missing():
                raise click.ClickException(f"no event log at {reading}: nothing to verify")
            with open_sqlite(reading, readonly=True, require_log=False) as log:
                findings = verify_log(log)
                # Not in store.verify: the secrets are the webhooks' (a backup restored
                # without the key it was made under delivers nothing).
                hooks = stores_on(log).webhooks  # read-only: the tables as they are
                findings.append(Finding(*verify_secrets(hooks, Keyring(log.path))))
                findings.append(Finding(*verify_queue_state(hooks)))
    for finding in findings:
        click.echo(one_line(finding.line()))
    problems = sum(1 for f in findings if not f.ok)
    if problems:
        noun = "problem" if problems == 1 else "problems"
        raise click.ClickException(f"{reading}: {problems} {noun} found (see above)")


def _verify_server(db: str) -> list[Any]:
    """`verify` on a database server (PostgreSQL): the log's own checks there
    (`liveblog.store.postgres.verify`: schema, triggers, invariants), then the
    webhooks' as on SQLite. Its pages are the server's business (amcheck, pg_dump)."""
    import importlib

    from ..store.factory import open_store, stores_on
    from ..store.sqlite.verify import Finding
    from ..webhooks.queue import verify_queue_state
    from ..webhooks.secretkey import Keyring
    from ..webhooks.subscriptions import verify_secrets

    # By name: the backend's module, loaded only for a URL.
    checks = importlib.import_module("liveblog.store.postgres.verify")
    with open_store(db, readonly=True, require_log=False) as store:
        findings: list[Any] = checks.verify(store)
        hooks = stores_on(store).webhooks
        findings.append(Finding(*verify_secrets(hooks, Keyring(db))))
        findings.append(Finding(*verify_queue_state(hooks)))
    return findings


def publish_options(fn: F) -> F:
    """The options that say where and how feeds are published (`publish`, `run`)."""
    from ..feeds.defaults import DEFAULT_FEEDS_URL, DEFAULT_PAGE_SIZE
    from ..pages.defaults import DEFAULT_POLL_INTERVAL, MAX_POLL_INTERVAL

    fn = click.option(
        "--poll-interval",
        type=click.IntRange(1, MAX_POLL_INTERVAL),
        default=DEFAULT_POLL_INTERVAL,
        show_default=True,
        metavar="SECONDS",
        help="How often the live page polls live.json when it cannot open the stream "
        "(static hosting; four times slower in a hidden tab).",
    )(fn)
    fn = click.option(
        "--page-size",
        type=click.IntRange(1, 1000),
        default=DEFAULT_PAGE_SIZE,
        show_default=True,
        help="Entries per feed document.",
    )(fn)
    fn = click.option(
        "--hub",
        envvar="LIVEBLOG_HUB",
        metavar="URL",
        help="A WebSub hub to link and to ping after changes (env LIVEBLOG_HUB).",
    )(fn)
    fn = click.option(
        "--feeds-url",
        envvar="LIVEBLOG_FEEDS_URL",
        metavar="URL",
        default=DEFAULT_FEEDS_URL,
        show_default=True,
        help="Public URL of the feeds directory (env LIVEBLOG_FEEDS_URL): self links.",
    )(fn)
    return fn


def publish_settings(feeds_url: str, hub: str | None, page_size: int, poll_interval: int) -> Any:
    from ..feeds import PublishOptions
    from ..feeds.files import check_feeds_dir

    feeds = state().feeds
    if not feeds:
        # `--feeds ''`: no directory at all, the feeds only in the database (PostgreSQL).
        _no_feeds_dir_needs_a_server()
        return PublishOptions(
            feeds_dir=Path("feeds"),  # never written: write_files is off
            feeds_url=feeds_url,
            page_size=page_size,
            hub=hub,
            write_files=False,
            poll_interval=poll_interval,
        )
    check_feeds_dir(Path(feeds))  # a file named feeds: refused before anything runs
    return PublishOptions(
        feeds_dir=Path(feeds),
        feeds_url=feeds_url,
        page_size=page_size,
        hub=hub,
        poll_interval=poll_interval,
    )


def _no_feeds_dir_needs_a_server() -> None:
    if state().is_file:
        raise click.ClickException(
            "--feeds '' (no feeds directory) works on a PostgreSQL database, which keeps "
            "the feeds itself; on a SQLite file give the directory to write them to"
        )


class _PublishBar:
    """A progress bar on stderr, made when the publisher first reports (a large plan)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label="publishing", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@cli.command()
@publish_options
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Render every conference from scratch, not only those that changed (repairs every file).",
)
def publish(
    feeds_url: str, hub: str | None, page_size: int, poll_interval: int, everything: bool
) -> None:
    """Write the feeds and pages of the conferences that changed; print the files written.

    A conference is rendered when it has events not yet published, when its folder or
    one of its files was deleted or edited (an audit checks some files each time), or
    when the options changed; --all renders them all.
    """
    from ..feeds import ping_hub

    with user_errors():
        settings = publish_settings(feeds_url, hub, page_size, poll_interval)
        bar = _PublishBar() if sys.stderr.isatty() else None
        try:
            result = state().service.publish(settings, everything=everything, progress=bar)
        finally:
            if bar is not None:
                bar.close()
    for path in result.changed:
        click.echo(str(path))
    if not result.changed:
        click.echo("no changes", err=True)
    else:
        written, seconds = len(result.changed), result.seconds
        rate = f"{written / seconds:,.0f}" if seconds > 0 else "-"
        rendered = len(result.rendered)
        click.echo(
            f"wrote {written:,} file{'' if written == 1 else 's'} in {seconds:.2f} s "
            f"({rate} files/s); rendered "
            f"{rendered:,} conference{'' if rendered == 1 else 's'}",
            err=True,
        )
    if hub and result.feed_urls:
        for problem in ping_hub(hub, result.feed_urls):
            click.echo(f"Warning: {problem}", err=True)


def scheduler_options(fn: F) -> F:
    """What `run` and `serve` share: where feeds go, and how webhooks are delivered."""
    from ..webhooks.policy import DEFAULT_SCHEDULE

    fn = click.option(
        "--webhook-concurrency",
        type=click.IntRange(1, 1000),
        default=32,
        show_default=True,
        metavar="N",
        help="Webhook attempts on the wire at once.",
    )(fn)
    fn = click.option(
        "--webhook-timeout",
        envvar="LIVEBLOG_WEBHOOK_TIMEOUT",
        type=click.FloatRange(0.1, 600),
        default=15.0,
        show_default=True,
        metavar="SECONDS",
        help="Deadline for one webhook attempt, DNS to response (env LIVEBLOG_WEBHOOK_TIMEOUT).",
    )(fn)
    fn = click.option(
        "--retry-schedule",
        envvar="LIVEBLOG_WEBHOOK_RETRIES",
        default=DEFAULT_SCHEDULE,
        show_default=True,
        metavar="DELAYS",
        help="Waits before each webhook retry (env LIVEBLOG_WEBHOOK_RETRIES); after the "
        "last one a delivery is dead-lettered.",
    )(fn)
    fn = click.option("--no-feeds", is_flag=True, help="Deliver webhooks only; write no feeds.")(fn)
    return publish_options(fn)


def run_settings(
    feeds_url: str,
    hub: str | None,
    page_size: int,
    poll_interval: int,
    no_feeds: bool,
    retry_schedule: str,
    webhook_timeout: float,
    webhook_concurrency: int,
) -> Any:
    from ..scheduler.main import RunOptions
    from ..webhooks import DeliveryOptions, RetryPolicy, parse_schedule

    return RunOptions(
        db_path=state().db,
        feeds=None if no_feeds else publish_settings(feeds_url, hub, page_size, poll_interval),
        delivery=DeliveryOptions(
            retry=RetryPolicy(parse_schedule(retry_schedule)),
            timeout=webhook_timeout,
            concurrency=webhook_concurrency,
        ),
    )


@cli.command()
@scheduler_options
@click.option("--once", is_flag=True, help="Publish and deliver what is due now, then exit.")
def run(once: bool, **settings: Any) -> None:
    """Keep feeds and webhooks current until Ctrl-C (SIGINT) or SIGTERM.

    Watches the log: an event appended by any process is published to the feeds and
    queued for every webhook subscription at once; failed deliveries are retried on
    the --retry-schedule. Stopping lets the attempts in flight finish.
    """
    from ..scheduler.main import run_until_signalled

    with user_errors():
        options = run_settings(**settings)
        # Creates or migrates the store (a read-only one is refused); a key that cannot open
        # the secrets stops us here too.
        state().service.log.require_writable()
        state().service.check_webhook_secrets()
        with scheduler_lead("run") as lead:
            state().idle()
            if not once:
                feeds = "no feeds" if options.feeds is None else f"feeds in {state().feeds}"
                click.echo(
                    f"liveblog run on {state().shown}: watching the log; {feeds}, "
                    "webhooks delivered (Ctrl-C stops)",
                    err=True,
                )
            run_until_signalled(
                options, once=once, report=lambda line: click.echo(line, err=True), lead=lead
            )


@contextmanager
def scheduler_lead(command: str) -> Iterator[Leadership]:
    """The leadership "scheduler" of the store, tried once: on SQLite a second
    scheduler is refused (one line naming the holder, as always); on PostgreSQL this
    node stands by when another leads (the scheduler keeps trying). Released on exit."""
    lead = state().service.stores.leadership("scheduler", command)
    try:
        if not lead.try_acquire() and not lead.standby:
            raise lead.refusal()
        yield lead
    finally:
        lead.release()


def server_limit_options(fn: F) -> F:
    """What one client may cost `serve` (README "Security")."""
    from ..http.limits import Limits, StreamSettings

    default = Limits()
    streams = StreamSettings()
    fn = click.option(
        "--stream-heartbeat",
        envvar="LIVEBLOG_STREAM_HEARTBEAT",
        type=click.FloatRange(0.1, 3600),
        default=streams.heartbeat,
        show_default=True,
        metavar="SECONDS",
        help="Seconds between heartbeats on an idle live stream, so proxies keep it open "
        "(env LIVEBLOG_STREAM_HEARTBEAT).",
    )(fn)
    fn = click.option(
        "--max-streams",
        envvar="LIVEBLOG_MAX_STREAMS",
        type=click.IntRange(1, 10**9),
        default=streams.max_streams,
        show_default=True,
        metavar="N",
        help="Live streams open at once, counted apart from --max-connections; a newcomer "
        "over it gets 503 (env LIVEBLOG_MAX_STREAMS).",
    )(fn)
    fn = click.option(
        "--forwarded-allow-ips",
        envvar="LIVEBLOG_FORWARDED_ALLOW_IPS",
        default=default.forwarded_allow_ips,
        show_default=True,
        metavar="ADDRESSES",
        help="Peers whose X-Forwarded-For is believed (your proxy's address; '' for none, "
        "'*' for any) (env LIVEBLOG_FORWARDED_ALLOW_IPS).",
    )(fn)
    fn = click.option(
        "--body-budget",
        envvar="LIVEBLOG_BODY_BUDGET",
        type=click.IntRange(1, 2**40),
        default=default.body_budget,
        show_default=True,
        metavar="BYTES",
        help="Request bodies buffered at once, in all (at least --max-body); an upload "
        "over it gets 503 (env LIVEBLOG_BODY_BUDGET).",
    )(fn)
    fn = click.option(
        "--body-timeout",
        envvar="LIVEBLOG_BODY_TIMEOUT",
        type=click.FloatRange(0.1, 3600),
        default=default.body_timeout,
        show_default=True,
        metavar="SECONDS",
        help="Answer 408 to an upload whose body has not all arrived within this "
        "(env LIVEBLOG_BODY_TIMEOUT).",
    )(fn)
    fn = click.option(
        "--send-timeout",
        envvar="LIVEBLOG_SEND_TIMEOUT",
        type=click.FloatRange(0.1, 3600),
        default=default.send_timeout,
        show_default=True,
        metavar="SECONDS",
        help="Reset a connection whose client reads nothing of its response for this "
        "long (env LIVEBLOG_SEND_TIMEOUT).",
    )(fn)
    fn = click.option(
        "--auth-failures",
        envvar="LIVEBLOG_AUTH_FAILURES",
        type=click.IntRange(1, 100_000),
        default=default.auth_failures,
        show_default=True,
        metavar="N",
        help=f"Failed authentications allowed per client address per "
        f"{default.auth_window:g} s; then 429 (env LIVEBLOG_AUTH_FAILURES).",
    )(fn)
    fn = click.option(
        "--max-connections",
        envvar="LIVEBLOG_MAX_CONNECTIONS",
        type=click.IntRange(1, 1_000_000),
        default=default.max_connections,
        show_default=True,
        metavar="N",
        help="Open connections at most; a newcomer closes the oldest idle one, else the "
        "oldest stalled reader (env LIVEBLOG_MAX_CONNECTIONS).",
    )(fn)
    fn = click.option(
        "--keep-alive",
        envvar="LIVEBLOG_KEEP_ALIVE",
        type=click.IntRange(1, 3600),
        default=default.keep_alive,
        show_default=True,
        metavar="SECONDS",
        help="Close a keep-alive connection idle this long (env LIVEBLOG_KEEP_ALIVE).",
    )(fn)
    fn = click.option(
        "--header-timeout",
        envvar="LIVEBLOG_HEADER_TIMEOUT",
        type=click.FloatRange(0.1, 3600),
        default=default.header_timeout,
        show_default=True,
        metavar="SECONDS",
        help="Close a connection that has not sent a whole request head within this "
        "(env LIVEBLOG_HEADER_TIMEOUT).",
    )(fn)
    fn = click.option(
        "--max-body",
        envvar="LIVEBLOG_MAX_BODY",
        type=click.IntRange(1, 2**40),
        default=default.max_body,
        show_default=True,
        metavar="BYTES",
        help="Refuse a request body over this with 413, unread (env LIVEBLOG_MAX_BODY).",
    )(fn)
    return fn


@cli.command()
@click.option(
    "--host",
    envvar="LIVEBLOG_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (env LIVEBLOG_HOST); 0.0.0.0 for every interface.",
)
@click.option(
    "--port",
    envvar="LIVEBLOG_PORT",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (env LIVEBLOG_PORT); 0 picks a free one.",
)
@server_limit_options
@scheduler_options
def serve(
    host: str,
    port: int,
    max_body: int,
    header_timeout: float,
    keep_alive: int,
    max_connections: int,
    auth_failures: int,
    send_timeout: float,
    body_timeout: float,
    body_budget: int,
    forwarded_allow_ips: str,
    max_streams: int,
    stream_heartbeat: float,
    **settings: Any,
) -> None:
    """Serve the feeds and the HTTP API, with the scheduler, until Ctrl-C or SIGTERM.

    Feeds at /feeds/<conference>/live.atom …, the API at /api/… (bearer tokens from
    `liveblog token create`), its OpenAPI description at /openapi.json.
    """
    from ..http.limits import Limits
    from ..http.server import listen
    from ..http.server import serve as serve_forever

    limits = Limits(
        max_body=max_body,
        header_timeout=header_timeout,
        keep_alive=keep_alive,
        max_connections=max_connections,
        auth_failures=auth_failures,
        send_timeout=send_timeout,
        body_timeout=body_timeout,
        body_budget=body_budget,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    # The server reads its stream settings from the environment (`stream_settings`):
    # the flags, checked here, take the variables' place for this process.
    os.environ["LIVEBLOG_MAX_STREAMS"] = str(max_streams)
    os.environ["LIVEBLOG_STREAM_HEARTBEAT"] = repr(stream_heartbeat)
    with user_errors():
        if not state().feeds:
            _no_feeds_dir_needs_a_server()  # else `/feeds/` would serve the current directory
        options = run_settings(**settings)
        # The port first: if it is taken, nothing else (the store, the lock) is created.
        sock = listen(host, port)
        try:
            # Creates or migrates the store (a read-only one is refused); a key that cannot
            # open the secrets stops us here too.
            state().service.log.require_writable()
            state().service.check_webhook_secrets()
            with scheduler_lead("serve") as lead:
                state().idle()
                serve_forever(
                    options,
                    Path(state().feeds),
                    sock=sock,
                    limits=limits,
                    report=lambda line: click.echo(line, err=True),
                    lead=lead,
                )
        finally:
            sock.close()


@cli.command()
def sync() -> None:
    """Send what reporting commands queued while the server was unreachable.

    Needs LIVEBLOG_SERVER and LIVEBLOG_TOKEN. Drafts go in the order they were typed;
    one the server refuses is set aside (in rejected-*.jsonl, with the reason)."""
    reporter = remote_reporter()
    if reporter is None:
        raise click.ClickException(
            "nothing to sync: LIVEBLOG_SERVER is not set (the CLI writes to the local log)"
        )
    with user_errors():
        try:
            sent, waiting = reporter.sync()
        finally:
            reporter.close()
    if waiting:
        raise click.ClickException(
            f"sent {sent}; {waiting} still queued: {reporter.remote.server} cannot be reached"
        )
    noun = "draft" if sent == 1 else "drafts"
    click.echo(f"sent {sent} queued {noun}" if sent else "nothing queued", err=True)


# -- tokens --------------------------------------------------------------------------


@cli.group()
def token() -> None:
    """Bearer tokens for reporters who post through `liveblog serve`."""


@token.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=REPORTER,
    show_default=True,
    help="reporter: posts, and corrects, retracts, pins or highlights only its own "
    "entries; editor: also anyone's entries, and opens and closes days and conferences.",
)
def token_create(name: str, role: Role) -> None:
    """Create NAME's token and print it (shown this once only)."""
    with user_errors():
        secret = state().admin.create_token(name, role)
    click.echo(secret)
    click.echo(
        f"Token for {name} ({role}): set LIVEBLOG_TOKEN to it on the reporter's machine; "
        "it is not shown again.",
        err=True,
    )


@token.command("list")
def token_list() -> None:
    """List who has a token (never the tokens)."""
    if state().missing():
        return
    with user_errors():
        found = state().existing_admin.tokens()
    for info in found:
        click.echo(f"{info.name}  {info.role}  created {info.created_at}")
    if not found:
        click.echo("no tokens (create one with `liveblog token create NAME`)", err=True)


@token.command("revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke NAME's token: the server refuses it from now on."""
    with user_errors():
        state().existing_admin.revoke_token(name)
    click.echo(f"revoked {name}'s token")


# -- webhooks ------------------------------------------------------------------------


@cli.group()
def webhook() -> None:
    """Signed POSTs of the coverage to downstream blogs (Standard Webhooks)."""


@webhook.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    metavar="TYPE",
    help="Only these types: quote.captured, quote.*, summary.*, … (repeatable; default all).",
)
@click.option("--conference", metavar="SLUG", help="Only this conference's events.")
@click.option(
    "--secret",
    metavar="SECRET",
    help="Use this whsec_… secret instead of a new random one.",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow a private or loopback address (an intranet, a test).",
)
@click.option(
    "--since",
    type=click.IntRange(0, MAX_POSITION),
    metavar="POSITION",
    help="Also deliver the log after this position (default: only new events).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def webhook_add(
    url: str,
    events: tuple[str, ...],
    conference: str | None,
    secret: str | None,
    allow_private: bool,
    since: int | None,
    as_json: bool,
) -> None:
    """Subscribe URL; print its id and its secret (shown this once only)."""
    with user_errors():
        sub = state().admin.add_webhook(
            url,
            events=events,
            conference=conference,
            secret=secret,
            allow_private=allow_private,
            since=since,
        )
    if as_json:
        click.echo(json.dumps({**sub.describe(), "secret": sub.secret}))
        return
    click.echo(f"added webhook {sub.id} for {sub.url} ({_webhook_scope(sub)})")
    click.echo(f"secret: {sub.secret}")
    click.echo("Keep the secret now: it is not shown again.", err=True)


def _webhook_scope(sub: Any) -> str:
    what = ", ".join(sub.events) if sub.events else "every event"
    where = f"conference {sub.conference}" if sub.conference else "every conference"
    return f"{what}; {where}; after position {sub.cursor}"


@webhook.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one subscription per line.")
def webhook_list(as_json: bool) -> None:
    """List the subscriptions (never their secrets)."""
    if state().missing():
        return
    with user_errors():
        subs = state().existing_admin.webhooks()
    for sub in subs:
        if as_json:
            click.echo(json.dumps(sub.describe()))
            continue
        status = sub.status if not sub.status_reason else f"{sub.status} ({sub.status_reason})"
        click.echo(f"{sub.id}  {status}  {sub.url}  {_webhook_scope(sub)}")
    if not subs and not as_json:
        click.echo("no webhooks (add one with `liveblog webhook add URL`)", err=True)


@webhook.command("remove")
@click.argument("subscription", metavar="ID")
def webhook_remove(subscription: str) -> None:
    """Delete a subscription and its delivery history."""
    with user_errors():
        sub = state().existing_admin.remove_webhook(subscription)
    click.echo(f"removed webhook {sub.id} ({sub.url})")


@webhook.command("enable")
@click.argument("subscription", metavar="ID")
def webhook_enable(subscription: str) -> None:
    """Resume a disabled subscription (e.g. after its receiver answered 410)."""
    with user_errors():
        sub = state().existing_admin.enable_webhook(subscription)
    click.echo(f"enabled webhook {sub.id}: delivery resumes from its queue")


@webhook.command("disable")
@click.argument("subscription", metavar="ID")
def webhook_disable(subscription: str) -> None:
    """Pause a subscription; its queue is kept until it is enabled again."""
    with user_errors():
        sub = state().existing_admin.disable_webhook(subscription)
    click.echo(f"disabled webhook {sub.id}")


@webhook.command("deliveries")
@click.argument("subscription", metavar="[ID]", required=False)
@click.option(
    "--status",
    type=click.Choice(["pending", "delivered", "dead", "cancelled"]),
    help="Only deliveries in this state (dead: the dead letters).",
)
@click.option(
    "--limit", type=click.IntRange(1, 100_000), default=50, show_default=True, help="How many."
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines, one delivery per line.")
def webhook_deliveries(
    subscription: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Show the newest deliveries (of one subscription), newest first."""
    if state().missing():
        return
    with user_errors():
        found = state().existing_admin.deliveries(subscription, status=status, limit=limit)
    for delivery in found:
        d = delivery.describe()
        if as_json:
            click.echo(json.dumps(d))
            continue
        line = (
            f"{d['id']}  {d['status']}  {d['subscription']}  {d['type']} @{d['position']}  "
            f"attempts {d['attempts']}"
        )
        if d["last_error"]:
            line += f"  last: {d['last_error']}"
        elif d["last_status"]:
            line += f"  last: HTTP {d['last_status']}"
        if d["next_attempt_at"]:
            line += f"  next: {d['next_attempt_at']}"
        click.echo(one_line(line))


@webhook.command("redeliver")
@click.argument("delivery_id", required=False, type=int, metavar="(DELIVERY_ID | --since POSITION)")
@click.option(
    "--since",
    type=click.IntRange(0, MAX_POSITION),
    metavar="POSITION",
    help="Send every message after this log position again.",
)
@click.option(
    "--subscription", metavar="ID", help="With --since: only this subscription (default: all)."
)
def webhook_redeliver(delivery_id: int | None, since: int | None, subscription: str | None) -> None:
    """Queue one delivery, or everything after a position, to be sent again."""
    if (delivery_id is None) == (since is None):
        raise click.UsageError("name one DELIVERY_ID, or --since POSITION")
    if subscription is not None and since is None:
        raise click.UsageError("--subscription goes with --since")
    with user_errors():
        service = state().existing_admin
        if delivery_id is not None:
            again = service.redeliver(delivery_id)
            click.echo(
                f"queued delivery {again.id}: {again.type} @{again.position} to "
                f"{again.subscription} again (was delivery {delivery_id})"
            )
            return
        assert since is not None
        subs = service.redeliver_since(since, subscription)
    for sub in subs:
        click.echo(f"webhook {sub.id}: everything after position {since} will be sent again")
    if not subs:
        click.echo("no active webhooks", err=True)


# -- the key for secrets at rest -------------------------------------------------------


@cli.group("secret-key")
def secret_key() -> None:
    """The key that encrypts webhook secrets in the store (events.db.key beside a SQLite
    file, or LIVEBLOG_SECRET_KEY: on PostgreSQL, the same key on every node)."""


@secret_key.command("rotate")
def secret_key_rotate() -> None:
    """Re-encrypt every webhook secret under a new key, in one transaction.

    With the key file (events.db.key), a new key is made and the old one is dropped
    from the file once nothing uses it. With LIVEBLOG_SECRET_KEY, put the new key first
    (`liveblog secret-key generate`), the old one after a comma, rotate, then drop the
    old one. Webhook secrets themselves, and so signatures, do not change."""
    with user_errors():
        count, new_id = state().admin.rotate_secret_key()
    noun = "secret" if count == 1 else "secrets"
    click.echo(f"re-encrypted {count} webhook {noun} under key {new_id}")


@secret_key.command("generate")
def secret_key_generate() -> None:
    """Print a new key for LIVEBLOG_SECRET_KEY (base64 of 32 random bytes)."""
    from ..webhooks.secretkey import new_key

    click.echo(new_key())


from .transfer import config as config_group  # noqa: E402  (it reads `state` from here)

cli.add_command(config_group)


def main() -> None:
    """Console-script entry: no traceback reaches a user, even for a bug."""
    try:
        cli(prog_name="liveblog")
    except Exception as exc:  # a bug: say so in one line, keep the details on request
        if os.environ.get("LIVEBLOG_DEBUG"):
            raise
        detail = " ".join(str(exc).split())[:300]
        click.echo(
            f"Error: internal error ({type(exc).__name__}: {detail}); "
            "rerun with LIVEBLOG_DEBUG=1 for details",
            err=True,
        )
        sys.exit(1)
