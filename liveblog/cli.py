"""The `liveblog` command: a thin click layer over `liveblog.service.Liveblog`.

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
from typing import Any, TypeVar

# We use no pydantic plugins; looking them up scans every installed package's metadata.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import click

from .errors import LiveblogError
from .events import SESSION_KINDS

F = TypeVar("F", bound=Callable[..., Any])

FOLLOW_POLL_SECONDS = 0.25
MAX_POSITION = 2**63 - 1  # SQLite's largest integer


def default_author() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "reporter"


class State:
    """Global options, and the service opened on first use (never for --help)."""

    def __init__(self, db: str, feeds: str, author: str) -> None:
        self.db = db
        self.feeds = feeds
        self.author = author
        self._service: Any = None

    @property
    def service(self) -> Any:
        if self._service is None:
            from .service import Liveblog

            self._service = Liveblog(self.db, self.author)
        return self._service

    def missing(self) -> bool:
        """No log file yet (an empty log); a path in no directory is an error."""
        if os.path.exists(self.db):
            return False
        parent = os.path.dirname(os.path.abspath(self.db))
        if not os.path.isdir(parent):
            raise click.ClickException(f"cannot open {self.db}: no such directory {parent}")
        return True

    @property
    def reader(self) -> Any:
        """The service for a command that only reads: a missing log is an error, not a
        new empty file left behind by a typo in --db."""
        if self._service is None and not os.path.exists(self.db):
            raise click.ClickException(
                f"no event log at {self.db}: check --db / LIVEBLOG_DB, or start one with "
                "`liveblog conference open` or `liveblog import`"
            )
        return self.service

    def close(self) -> None:
        if self._service is not None:
            self._service.close()


def one_line(message: str) -> str:
    """A message is one line, whatever text it quotes."""
    return message.replace("\r", "\\r").replace("\n", "\\n")


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn library and database errors into one clean line and exit status 1."""
    from .store.sqlite import DatabaseError

    try:
        yield
    except LiveblogError as exc:
        raise click.ClickException(one_line(str(exc))) from None
    except DatabaseError as exc:
        raise click.ClickException(f"database error: {one_line(str(exc))}") from None


def echo_events(events: list[Any]) -> None:
    from .lines import appended

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
    metavar="PATH",
    help="The SQLite event log (env LIVEBLOG_DB).",
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


# -- conference / day ----------------------------------------------------------------


@cli.group()
def conference() -> None:
    """Open or close coverage of a conference."""


@conference.command("open")
@click.argument("slug")
@click.option("--title", required=True, help="The conference's title.")
@click.option("--venue", help="Where it takes place.")
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    metavar="TZ",
    help="IANA timezone, e.g. Europe/London: how times without an offset are read.",
)
@click.option("--url", "url", metavar="BASE_URL", help="The coverage's public base URL.")
@click.option("--language", default="en", show_default=True, help="Language of the coverage.")
@click.option("--at", "at", metavar="TIME", help="When coverage began (default: now).")
def conference_open(
    slug: str,
    title: str,
    venue: str | None,
    timezone: str,
    url: str | None,
    language: str,
    at: str | None,
) -> None:
    """Begin covering conference SLUG (lowercase letters, digits, dashes)."""
    with user_errors():
        echo_events(
            state().service.open_conference(
                slug, title=title, venue=venue, timezone=timezone, url=url, language=language, at=at
            )
        )


@conference.command("close")
@reporting
def conference_close(conference: str | None, at: str | None) -> None:
    """End coverage of the conference (closing your open talk, session and the day)."""
    with user_errors():
        echo_events(state().service.close_conference(conference=conference, at=at))


@cli.group()
def day() -> None:
    """Open or close a conference day."""


@day.command("open")
@click.argument("number", type=click.IntRange(1, 366))
@click.option("--date", metavar="YYYY-MM-DD", help="The day's date (default: the --at date).")
@click.option("--title", help='Its own title, e.g. "Day 2 Reflections".')
@reporting
def day_open(
    number: int, date: str | None, title: str | None, conference: str | None, at: str | None
) -> None:
    """Open day NUMBER of the conference (days are shared by all its reporters)."""
    with user_errors():
        echo_events(
            state().service.open_day(number, date=date, title=title, conference=conference, at=at)
        )


@day.command("close")
@reporting
def day_close(conference: str | None, at: str | None) -> None:
    """Close the open day (and your open talk and session)."""
    with user_errors():
        echo_events(state().service.close_day(conference=conference, at=at))


# -- session / talk ------------------------------------------------------------------


@cli.group()
def session() -> None:
    """Start or end a session (plenary, keynote, breakout, roundtable, panel, demo…)."""


@session.command("start")
@click.argument("title")
@click.option(
    "--kind",
    type=click.Choice(SESSION_KINDS),
    default="session",
    show_default=True,
    help="What sort of session.",
)
@click.option("--room", help="Where it is held.")
@click.option(
    "--host", "hosts", multiple=True, metavar="NAME", help="A host or chair (repeatable)."
)
@reporting
def session_start(
    title: str,
    kind: str,
    room: str | None,
    hosts: tuple[str, ...],
    conference: str | None,
    at: str | None,
) -> None:
    """Start a session called TITLE (ending your open one first)."""
    with user_errors():
        echo_events(
            state().service.start_session(
                title, kind=kind, room=room, hosts=hosts, conference=conference, at=at
            )
        )


@session.command("end")
@reporting
def session_end(conference: str | None, at: str | None) -> None:
    """End your open session (and its open talk)."""
    with user_errors():
        echo_events(state().service.end_session(conference=conference, at=at))


@cli.group()
def talk() -> None:
    """Start or end a talk inside your open session."""


@talk.command("start")
@click.argument("title")
@click.option("--speaker", required=True, metavar="NAME", help="Who gives the talk.")
@click.option("--role", help="The speaker's role, e.g. Chief Executive.")
@click.option("--org", "organisation", metavar="ORGANISATION", help="The speaker's organisation.")
@reporting
def talk_start(
    title: str,
    speaker: str,
    role: str | None,
    organisation: str | None,
    conference: str | None,
    at: str | None,
) -> None:
    """Start a talk called TITLE (ending your open talk first)."""
    with user_errors():
        echo_events(
            state().service.start_talk(
                title,
                speaker=speaker,
                role=role,
                organisation=organisation,
                conference=conference,
                at=at,
            )
        )


@talk.command("end")
@reporting
def talk_end(conference: str | None, at: str | None) -> None:
    """End your open talk."""
    with user_errors():
        echo_events(state().service.end_talk(conference=conference, at=at))


# -- entries -------------------------------------------------------------------------


@cli.command()
@click.argument("text")
@click.option("--speaker", metavar="NAME", help="Who said it (default: your open talk's speaker).")
@reporting
def quote(text: str, speaker: str | None, conference: str | None, at: str | None) -> None:
    """Capture words someone said."""
    with user_errors():
        echo_events(state().service.quote(text, speaker=speaker, conference=conference, at=at))


@cli.command()
@click.argument("text")
@reporting
def note(text: str, conference: str | None, at: str | None) -> None:
    """Post your own observation or paraphrase."""
    with user_errors():
        echo_events(state().service.note(text, conference=conference, at=at))


@cli.command()
@click.argument("url")
@click.option("--caption", required=True, help="What the picture shows.")
@reporting
def photo(url: str, caption: str, conference: str | None, at: str | None) -> None:
    """Post a picture (an http(s) URL) with a caption."""
    with user_errors():
        echo_events(state().service.photo(url, caption=caption, conference=conference, at=at))


@cli.command()
@click.argument("event_id", required=False, metavar="(EVENT_ID | --last)")
@click.argument("text", required=False)
@click.option("--last", is_flag=True, help="Correct your latest entry.")
@click.option("--speaker", metavar="NAME", help="The right speaker.")
@click.option("--caption", help="The right caption (photos).")
@reporting
def correct(
    event_id: str | None,
    text: str | None,
    last: bool,
    speaker: str | None,
    caption: str | None,
    conference: str | None,
    at: str | None,
) -> None:
    """Replace the text, speaker or caption of an entry (EVENT_ID may be a unique prefix).

    With --last, the only argument is the new TEXT. --conference limits --last to
    your entries in that conference.
    """
    if last and event_id is not None:
        if text is not None:
            raise click.UsageError("with --last, give only the new TEXT, not an EVENT_ID")
        event_id, text = None, event_id
    if not last and event_id is None:
        raise click.UsageError("name the entry: an EVENT_ID (or a unique prefix), or --last")
    if text is None and speaker is None and caption is None:
        raise click.UsageError("say what to correct: new TEXT, --speaker or --caption")
    with user_errors():
        echo_events(
            state().service.correct(
                event_id,
                last=last,
                text=text,
                speaker=speaker,
                caption=caption,
                conference=conference,
                at=at,
            )
        )


@cli.command()
@click.argument("event_id", required=False, metavar="(EVENT_ID | --last)")
@click.option("--last", is_flag=True, help="Retract your latest entry.")
@click.option("--reason", help="Why it is withdrawn.")
@reporting
def retract(
    event_id: str | None, last: bool, reason: str | None, conference: str | None, at: str | None
) -> None:
    """Withdraw an entry (EVENT_ID may be a unique prefix, or --last)."""
    if last == (event_id is not None):
        raise click.UsageError("name the entry: an EVENT_ID (or a unique prefix), or --last")
    with user_errors():
        echo_events(
            state().service.retract(
                event_id, last=last, reason=reason, conference=conference, at=at
            )
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
    with user_errors():
        result = state().service.import_lines(file, source=name)
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

    def show(event: Any) -> None:
        if as_json:
            click.echo(json.dumps(event.to_export(), ensure_ascii=False))
        else:
            click.echo(log_line(event))

    with user_errors():
        if not follow and state().missing():
            return  # an empty log; and no file left behind by a typo in --db
        events_log = state().service.log
        position = since
        # Taken before the backlog is read, so an event committed in between is not missed.
        seen = events_log.data_version()
        for event in events_log.read(after=position):
            show(event)
            position = event.position
        if not follow:
            return
        try:
            while True:
                time.sleep(FOLLOW_POLL_SECONDS)
                current = events_log.data_version()
                if current == seen:
                    continue
                seen = current
                for event in events_log.read(after=position):
                    show(event)
                    position = event.position
                sys.stdout.flush()
        except KeyboardInterrupt:
            return


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
    from .feeds import freshness

    with user_errors():
        if not state().missing():
            report = state().service.status()
        else:
            from .projections import default_projections

            report = {
                "head": 0,
                "projections": [
                    {"name": p.name, "version": p.version, "position": 0, "lag": 0}
                    for p in default_projections()
                ],
            }
    report["feeds"] = [
        {**f, "lag": report["head"] - f["position"]} for f in freshness(Path(state().feeds))
    ]
    if as_json:
        click.echo(json.dumps(report))
        return
    click.echo(f"log head: {report['head']}")
    for p in report["projections"]:
        click.echo(
            f"projection {p['name']} v{p['version']}: position {p['position']}, lag {p['lag']}"
        )
    if not report["feeds"]:
        click.echo(f"feeds: none published in {state().feeds} (run `liveblog publish`)")
    for f in report["feeds"]:
        click.echo(
            f"feeds {f['conference']}: published at position {f['position']}, lag {f['lag']}"
        )


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
@click.option(
    "--feeds-url",
    envvar="LIVEBLOG_FEEDS_URL",
    metavar="URL",
    default="http://127.0.0.1:8000/feeds",
    show_default=True,
    help="Public URL of the feeds directory (env LIVEBLOG_FEEDS_URL): self links.",
)
@click.option(
    "--hub",
    envvar="LIVEBLOG_HUB",
    metavar="URL",
    help="A WebSub hub to link and to ping after changes (env LIVEBLOG_HUB).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 1000),
    default=50,
    show_default=True,
    help="Entries per feed document.",
)
def publish(feeds_url: str, hub: str | None, page_size: int) -> None:
    """Write every feed and page once; print the files that changed."""
    from .feeds import PublishOptions, ping_hub

    options = PublishOptions(
        feeds_dir=Path(state().feeds), feeds_url=feeds_url, page_size=page_size, hub=hub
    )
    with user_errors():
        result = state().service.publish(options)
    for path in result.changed:
        click.echo(str(path))
    if not result.changed:
        click.echo("no changes", err=True)
    if hub and result.feed_urls:
        for problem in ping_hub(hub, result.feed_urls):
            click.echo(f"Warning: {problem}", err=True)


@cli.command()
def run() -> None:
    """Run the scheduler that keeps feeds and webhooks current (not yet available)."""
    click.echo(
        "liveblog run: the scheduler (feeds and webhooks) is not built yet; "
        "the event log and the reporter CLI are ready: see `liveblog --help`."
    )


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
