"""The remote CLI: reporting commands sent to `liveblog serve`, queued while it is away.

With LIVEBLOG_SERVER set, a reporting command becomes a draft (liveblog.service.drafts) POSTed
to the server, which derives the context and appends as the token's reporter; nothing
is written locally. When the server cannot be reached (no network, a timeout, a 5xx),
the draft goes to an outbox file under the user's state directory and the command
still succeeds, saying so. The next command, or `liveblog sync`, sends the outbox first,
in order; each draft keeps the event id it was given when typed, so a draft sent twice
(the answer lost on the way back) is applied once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..domain.envelope import Event, from_export
from ..errors import LiveblogError, ServerRefused, Unreachable
from ..service.drafts import make_draft
from ..service.reporting import Reporter, command_of
from ..store.files import private_dir, private_opener
from .terminal import printable

DEADLINE_SECONDS = 10.0  # one POST, connect to answer
MAX_ERROR_CHARS = 500  # of a server's refusal, as shown
CONNECT_SECONDS = 3.0


@dataclass(frozen=True)
class Queued:
    """What a reporting command returns when its draft was queued."""

    draft: dict[str, Any]
    reason: str
    waiting: int  # drafts in the outbox now, this one included

    def line(self) -> str:
        return (
            f"queued {self.draft['type']} {self.draft['id'][:8]} ({self.reason}); "
            f"{self.waiting} waiting: the next command or `liveblog sync` sends them"
        )


def state_dir() -> Path:
    configured = os.environ.get("LIVEBLOG_STATE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "liveblog"


class Outbox:
    """Drafts waiting for one server, oldest first, one JSON object per line.

    Drafts are the reporter's unpublished words: every file here is created 0600, and
    the state directory 0700 when the outbox creates it.
    """

    def __init__(self, server: str, directory: Path | None = None) -> None:
        directory = directory or state_dir()
        key = hashlib.sha256(server.rstrip("/").encode()).hexdigest()[:12]
        self.path = directory / f"outbox-{key}.jsonl"
        self.rejected_path = directory / f"rejected-{key}.jsonl"
        self._lock_path = directory / f"outbox-{key}.lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One process at a time sends or queues, so the order is kept."""
        private_dir(self.path.parent)
        with open(self._lock_path, "a", opener=private_opener) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def pending(self) -> list[dict[str, Any]]:
        """The queued drafts. A line cut short (a crash while queuing, before the command
        said "queued") is skipped: that draft was never acknowledged."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        drafts = []
        for line in text.splitlines():
            try:
                draft = json.loads(line)
            except ValueError:
                continue
            if isinstance(draft, dict) and "id" in draft and "type" in draft:
                drafts.append(draft)
        return drafts

    def add(self, draft: dict[str, Any]) -> None:
        private_dir(self.path.parent)
        with open(self.path, "a+b", opener=private_opener) as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell():
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":  # a line cut short by a crash: end it
                    handle.write(b"\n")
            handle.write(json.dumps(draft).encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())  # queued means kept, even through a power cut

    def replace(self, drafts: Iterable[dict[str, Any]]) -> None:
        """Keep only `drafts` (the ones not sent yet), atomically."""
        temporary = self.path.with_suffix(".tmp")
        temporary.unlink(missing_ok=True)  # left by a crash, perhaps with another mode
        with open(temporary, "w", encoding="utf-8", opener=private_opener) as handle:
            with contextlib.suppress(FileNotFoundError):
                # The outbox is rewritten, not replaced by another file: it keeps its mode.
                os.fchmod(handle.fileno(), stat.S_IMODE(self.path.stat().st_mode))
            for draft in drafts:
                handle.write(json.dumps(draft) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def reject(self, draft: dict[str, Any], error: str) -> None:
        with open(self.rejected_path, "a", encoding="utf-8", opener=private_opener) as handle:
            handle.write(json.dumps({"draft": draft, "error": error}) + "\n")


class Remote:
    """POSTs drafts to a server's /api/events with a bearer token.

    One connection serves every post of a command (the queue, then the new draft): on
    poor wifi each new TLS handshake is a chance to fail. Call `close` when done."""

    def __init__(self, server: str, token: str, *, transport: Any = None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.transport = transport
        self._runner: asyncio.Runner | None = None
        self._client: Any = None

    def post(self, drafts: list[dict[str, Any]]) -> list[Event]:
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(self._post(drafts))

    def close(self) -> None:
        if self._runner is not None:
            if self._client is not None:
                self._runner.run(self._client.aclose())
                self._client = None
            self._runner.close()
            self._runner = None

    async def _post(self, drafts: list[dict[str, Any]]) -> list[Event]:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport,
                timeout=httpx.Timeout(DEADLINE_SECONDS, connect=CONNECT_SECONDS),
                follow_redirects=False,
            )
        body = drafts[0] if len(drafts) == 1 else drafts
        try:
            # httpx bounds each phase, not the whole exchange: this does.
            async with asyncio.timeout(DEADLINE_SECONDS):
                response = await self._client.post(
                    f"{self.server}/api/events",
                    json=body,
                    headers={"authorization": f"Bearer {self.token}"},
                )
        except TimeoutError:
            raise Unreachable(
                f"no answer from {self.server} within {DEADLINE_SECONDS:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.server}: {type(exc).__name__}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        status = response.status_code
        if status == 401:
            raise LiveblogError(
                f"{self.server} refused the token: check LIVEBLOG_TOKEN "
                "(`liveblog token create NAME` on the server)"
            )
        # Only the API's own refusal ({"error": …} with a 4xx) means the draft is wrong.
        # Anything else — a 5xx, a 408/429, a captive portal's redirect or page, a proxy's
        # answer — says nothing about the draft: it waits in the outbox.
        if 400 <= status < 500 and isinstance(answer, dict) and "error" in answer:
            # Printed on the reporter's terminal and kept in rejected-*.jsonl: no escape
            # sequence from the server gets through, nor a screenful of text.
            reason = printable(str(answer["error"]))
            if len(reason) > MAX_ERROR_CHARS:
                reason = reason[:MAX_ERROR_CHARS] + "…"
            raise ServerRefused(f"{self.server}: {reason}")
        events = answer.get("events") if 200 <= status < 300 and isinstance(answer, dict) else None
        if not isinstance(events, list):
            raise Unreachable(f"{self.server} answered {status}, not as liveblog's API does")
        try:
            return [from_export(e) for e in events]
        except (LiveblogError, TypeError, ValueError):
            raise Unreachable(
                f"{self.server} answered {status} with events it cannot read"
            ) from None


class RemoteReporter(Reporter[list[Event] | Queued]):
    """The `Reporter` protocol over HTTP, with the outbox: `submit` makes a draft of
    any type the registry gives a command (the named methods are the protocol's)."""

    def __init__(
        self, remote: Remote, outbox: Outbox, report: Callable[[list[Event]], None]
    ) -> None:
        self.remote = remote
        self.outbox = outbox
        self.report = report  # prints the events of queued drafts as they are sent

    def close(self) -> None:
        self.remote.close()

    # -- the outbox ------------------------------------------------------------------

    def sync(self) -> tuple[int, int]:
        """Send the outbox in order; returns (sent, still waiting)."""
        with self.outbox.locked():
            return self._flush()

    def _flush(self) -> tuple[int, int]:
        waiting = self.outbox.pending()
        sent = refused = 0
        try:
            while waiting:
                draft = waiting[0]
                try:
                    events = self.remote.post([draft])
                except ServerRefused as exc:
                    # Wrong for good (e.g. no talk open by then): set aside, keep going.
                    self.outbox.reject(draft, str(exc))
                    self._warn(f"queued {draft['type']} {draft['id'][:8]} was refused: {exc}")
                    refused += 1
                except Unreachable:
                    break
                else:
                    sent += 1
                    self.report(events)
                waiting.pop(0)
        finally:
            if sent or refused:
                self.outbox.replace(waiting)
        return sent, len(waiting)

    def _warn(self, message: str) -> None:
        import click

        click.echo(f"Warning: {message} (kept in {self.outbox.rejected_path})", err=True)

    def _submit(self, draft: dict[str, Any]) -> list[Event] | Queued:
        with self.outbox.locked():
            _, waiting = self._flush()
            if not waiting:
                try:
                    return self.remote.post([draft])
                except Unreachable as exc:
                    reason = str(exc)
            else:
                reason = f"{waiting} earlier drafts still waiting"
            self.outbox.add(draft)
            return Queued(draft, reason, waiting + 1)

    # -- the reporting commands ------------------------------------------------------

    def submit(
        self,
        event_type: str,
        fields: Mapping[str, Any],
        *,
        event_id: str | None = None,
        conference: str | None = None,
        at: str | None = None,
    ) -> list[Event] | Queued:
        """A draft of `event_type`, sent now or queued; the server checks it (the local
        checks would need the server's log)."""
        command_of(event_type)  # a type no command appends is refused here, not queued
        draft = make_draft(
            event_id or uuid.uuid4().hex, event_type, conference=conference, at=at, **fields
        )
        return self._submit(draft)
