"""`liveblog config export` / `config import`: tokens and webhook subscriptions moved
from one store to another (a SQLite file to PostgreSQL, say), beside the events that
`liveblog export | liveblog --db URL import -` moves.

What moves:

* **tokens** as they are kept: name, digest, role, created_at. The clear token was never
  kept, so it is never written; a reporter's token authenticates on the target as before.
* **webhook subscriptions**: id, URL, filters, conference, allow_private, status (and
  its reason), the cursor, and the secret *in clear*: the export opens each secret with
  the source's key (LIVEBLOG_SECRET_KEY, or the key file beside events.db) and the
  import seals it again under the target's, so the two stores never need to share a key.
  Receivers verify signatures exactly as before: the secret itself does not change.
  The export file is therefore created 0600, never over an existing file, and is said to
  hold secrets; delete it once imported.

A cursor is a log position, and positions belong to one log: the export names the event
at the cursor (`cursor_event`) and the import finds that event's position in the
target's log, so the events go first. The cursor is moved back before the oldest
delivery still pending on the source, so those are queued again on the target: delivery
stays at least once (a receiver may see a message twice, never miss one). The delivery
history itself (delivered, dead letters) stays behind.

The import runs in one transaction on the target: everything or nothing. Running it
again changes nothing (what is already there, identical, is skipped); what is there but
different refuses the whole file, in one line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import click

from ..errors import InvalidWebhook, LiveblogError, RefusedCommand

if TYPE_CHECKING:
    from ..store.stores import Stores

FORMAT = "liveblog-config"
VERSION = 1
_MAX_PENDING = 10_000_000  # every pending delivery of one subscription


class TransferError(LiveblogError):
    """A configuration file that cannot be imported (said in one line)."""


# -- export ----------------------------------------------------------------------------


def export_config(stores: Stores) -> dict[str, Any]:
    """Tokens and subscriptions of `stores` as the export document (secrets in clear)."""
    from ..webhooks.secretkey import is_sealed
    from ..webhooks.subscriptions import keyring_for

    events = stores.events
    with events.snapshot():
        tokens = [
            {"name": t.name, "digest": t.digest, "role": t.role, "created_at": t.created_at}
            for t in stores.tokens.stored()
        ]
        hooks = stores.webhooks
        webhooks = []
        if hooks.keeps_subscriptions():
            keyring = keyring_for(hooks)
            for sub in hooks.subscriptions():
                stored = sub.sealed_secret
                # An older release kept secrets in clear: they move as they are.
                secret = keyring.open(stored, sub.id) if is_sealed(stored) else stored
                pending = hooks.deliveries(sub.id, "pending", _MAX_PENDING)
                cursor = min([sub.cursor, *(d.position - 1 for d in pending)])
                anchor = events.at(cursor) if cursor > 0 else None
                webhooks.append(
                    {
                        "id": sub.id,
                        "url": sub.url,
                        "events": list(sub.events),
                        "conference": sub.conference,
                        "allow_private": sub.allow_private,
                        "status": sub.status,
                        "status_reason": sub.status_reason,
                        "cursor": cursor,
                        "cursor_event": None if anchor is None else anchor.id,
                        "secret": secret,
                    }
                )
        head = events.head()
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "log_head": head,
        "tokens": tokens,
        "webhooks": webhooks,
    }


def write_private(path: str, text: str) -> None:
    """Create `path` 0600 (whatever the umask), refusing an existing file or a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise TransferError(f"{path} exists: the export never overwrites a file") from None
    except OSError as exc:
        raise TransferError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as file:
            file.write(text)
            file.flush()
            os.fsync(fd)
    finally:
        os.close(fd)


# -- import ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    tokens_added: int
    tokens_skipped: int
    webhooks_added: int
    webhooks_skipped: int


def _field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in obj or not isinstance(obj[key], kind):
        raise TransferError(f"{where}: {key!r} is missing or not a {_kind_name(kind)}")
    return obj[key]


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "string", int: "number", bool: "boolean", list: "list", type(None): "null"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def parse_config(text: str | bytes, source: str) -> dict[str, Any]:
    """The export document, its shape checked before the target is opened."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise TransferError(f"{source}: not a liveblog configuration export (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TransferError(
            f"{source}: not a liveblog configuration export (made by `liveblog config export`)"
        )
    if doc.get("version") != VERSION:
        raise TransferError(
            f"{source}: export format version {doc.get('version')!r}; "
            f"this liveblog reads version {VERSION}"
        )
    for key in ("tokens", "webhooks"):
        if not isinstance(doc.get(key), list) or not all(isinstance(i, dict) for i in doc[key]):
            raise TransferError(f"{source}: {key!r} must be a list of objects")
    for number, token in enumerate(doc["tokens"], start=1):
        where = f"{source}: token {number}"
        for key in ("name", "digest", "created_at", "role"):
            _field(token, key, str, where)
        from ..service.roles import ROLES

        if token["role"] not in ROLES:
            raise TransferError(f"{where}: unknown role {token['role']!r}")
    for number, hook in enumerate(doc["webhooks"], start=1):
        where = f"{source}: webhook {number}"
        for key in ("id", "url", "status", "secret"):
            _field(hook, key, str, where)
        _field(hook, "events", list, where)
        _field(hook, "conference", (str, type(None)), where)
        _field(hook, "status_reason", (str, type(None)), where)
        _field(hook, "cursor_event", (str, type(None)), where)
        _field(hook, "allow_private", bool, where)
        if hook["status"] not in ("active", "disabled"):
            raise TransferError(f"{where}: unknown status {hook['status']!r}")
        if not all(isinstance(e, str) for e in hook["events"]):
            raise TransferError(f"{where}: 'events' must be a list of strings")
        from ..webhooks.subscriptions import check

        try:
            check(hook["url"], hook["events"], hook["conference"], hook["secret"], None)
        except InvalidWebhook as exc:
            raise TransferError(f"{where} ({hook['id']}): {exc}") from None
    return doc


def import_config(stores: Stores, doc: dict[str, Any], source: str) -> Imported:
    """Add what `doc` holds to `stores`, in one transaction (see the module docstring)."""
    from ..webhooks.model import NewSubscription
    from ..webhooks.secretkey import is_sealed, sealed_key_id
    from ..webhooks.subscriptions import keyring_for

    events, tokens, hooks = stores.events, stores.tokens, stores.webhooks
    events.require_writable()
    counts = {"tokens_added": 0, "tokens_skipped": 0, "webhooks_added": 0, "webhooks_skipped": 0}
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    with events.writing():
        names = {t.name for t in tokens.tokens()}
        for token in doc["tokens"]:
            name = token["name"]
            held = tokens.holder(token["digest"])
            if held is not None and held.name == name and held.role == token["role"]:
                counts["tokens_skipped"] += 1
                continue
            if held is not None or name in names:
                raise TransferError(
                    f"{source}: token {name!r} differs from the target's "
                    f"(`liveblog token revoke {name}` there first); nothing imported"
                )
            tokens.add(name, token["digest"], token["created_at"], token["role"])
            names.add(name)
            counts["tokens_added"] += 1

        keyring = keyring_for(hooks)
        keyring.reload()
        if doc["webhooks"]:
            stored_ids = {sealed_key_id(s) for _, s in hooks.sealed_secrets() if is_sealed(s)}
            keyring.ready_to_seal(stored_ids)
        for hook in doc["webhooks"]:
            sub_id = hook["id"]
            existing = hooks.subscription(sub_id)
            if existing is not None:
                same = (
                    existing.url == hook["url"]
                    and list(existing.events) == hook["events"]
                    and existing.conference == hook["conference"]
                    and existing.allow_private == hook["allow_private"]
                    and keyring.open(existing.sealed_secret, sub_id) == hook["secret"]
                )
                if not same:
                    raise TransferError(
                        f"{source}: webhook {sub_id} differs from the target's one of that "
                        "id (`liveblog webhook remove` it there first); nothing imported"
                    )
                counts["webhooks_skipped"] += 1
                continue
            hooks.insert_subscription(
                NewSubscription(
                    id=sub_id,
                    url=hook["url"],
                    events=tuple(hook["events"]),
                    conference=hook["conference"],
                    sealed_secret=keyring.seal(hook["secret"], sub_id),
                    allow_private=hook["allow_private"],
                    cursor=_target_cursor(stores, hook, source),
                    created_at=now,
                )
            )
            if hook["status"] != "active":
                hooks.set_status(sub_id, hook["status"], hook["status_reason"])
            counts["webhooks_added"] += 1
    return Imported(**counts)


def _target_cursor(stores: Stores, hook: dict[str, Any], source: str) -> int:
    """The position, in the target's log, of the event the source's cursor stood at."""
    anchor = hook["cursor_event"]
    if anchor is None:
        return 0
    event = stores.events.get(anchor)
    if event is None or event.position is None:
        raise RefusedCommand(
            f"{source}: webhook {hook['id']}'s cursor is at event {anchor}, which is not in "
            "the target's log: move the events first (liveblog export | "
            "liveblog --db TARGET import -); nothing imported"
        )
    return event.position


# -- the commands ----------------------------------------------------------------------


@click.group("config")
def config() -> None:
    """Move tokens and webhook subscriptions to another store (e.g. SQLite to PostgreSQL).

    The events move with `liveblog export | liveblog --db TARGET import -`; then
    `liveblog config export FILE` on the source and `liveblog --db TARGET config import
    FILE` move the rest."""


@config.command("export")
@click.argument("file", required=False, metavar="[FILE]")
def config_export(file: str | None) -> None:
    """Write the tokens (as digests) and webhook subscriptions (secrets in clear) as JSON.

    FILE is created 0600 and never overwritten; without FILE (or with -) the export goes
    to standard output, which must then not be a terminal. Each secret is opened with
    this store's key; `config import` seals it with the target's. Delete FILE once
    imported: it holds every webhook secret."""
    from .main import state, user_errors

    to_stdout = file in (None, "-")
    if to_stdout and sys.stdout.isatty():
        raise click.UsageError(
            "the export holds webhook secrets: give a FILE (created 0600), or pipe it"
        )
    with user_errors():
        stores = _open(state().db, readonly=True)
        try:
            doc = export_config(stores)
        finally:
            stores.close()
        text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
        if to_stdout:
            click.echo(text, nl=False)
        else:
            assert file is not None
            write_private(file, text)
    what = f"{_n(len(doc['tokens']), 'token')} and {_n(len(doc['webhooks']), 'webhook')}"
    where = "standard output" if to_stdout else f"{file} (mode 0600)"
    click.echo(
        f"exported {what} to {where}: it holds the webhook secrets, delete it once imported",
        err=True,
    )


@config.command("import")
@click.argument("file", type=click.File("rb"), metavar="FILE|-")
def config_import(file: IO[bytes]) -> None:
    """Add the tokens and webhook subscriptions of a `config export` file to this store.

    Import the events first (a subscription's cursor names an event). One transaction:
    everything or nothing. Running it again skips what is already there; something there
    that differs (a token of that name, a webhook of that id) refuses the file. Secrets
    are sealed under this store's key."""
    from .main import state, user_errors

    name = getattr(file, "name", "-")
    name = "stdin" if name in ("<stdin>", "-") or not isinstance(name, str) else name
    with user_errors():
        doc = parse_config(file.read(), name)  # before the target is opened (or created)
        stores = _open(state().db, readonly=False)
        try:
            result = import_config(stores, doc, name)
        finally:
            stores.close()
    click.echo(
        f"imported {_n(result.tokens_added, 'token')} ({result.tokens_skipped} already "
        f"there), {_n(result.webhooks_added, 'webhook')} ({result.webhooks_skipped} already there)"
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _open(db: str, *, readonly: bool) -> Stores:
    from ..store.factory import open_stores, scheme_of, sqlite_path

    if readonly and scheme_of(db) == "sqlite" and not sqlite_path(db).exists():
        raise TransferError(f"no event log at {db}: check --db / LIVEBLOG_DB")
    return open_stores(db, readonly=readonly)
