"""Sending queued deliveries: one shared HTTP client, bounded concurrency, deadlines.

Each subscription is drained by its own task, head first; an attempt holds one of
`concurrency` slots only while it is on the wire, so a slow or dead subscriber costs
the others nothing but a slot for at most the attempt deadline. Redirects are not
followed (a 3xx is a failure, retried like a 500), response bodies are read up to a
small cap, and every attempt connects to the address that passed the SSRF check.

Every node may deliver. A sender first claims its subscription in the store (a lease:
liveblog.store.webhooks, Claims), so one process at a time sends a subscription's
queue, in order, whichever nodes run; the claims are renewed while the senders work,
and a node that dies leaves claims that expire within a lease (`DeliveryOptions.lease`).

A sender sends a run of its queue (up to `DeliveryOptions.batch` deliveries, fetched at
once) and records the run's outcomes in one transaction: one trip to the database per
run, not per POST. Until the run is recorded its deliveries are still pending, so a
node killed mid-run loses nothing: the next holder of the claim sends them again.
The senders' bookkeeping is batched across senders too (liveblog.webhooks.bookkeeping):
the runs that end while the database thread is busy are recorded together, in one
transaction, and their next runs fetched in one read; `start_due` claims every due
subscription and fetches their first runs in one trip. A hundred subscribers owed a
few messages each then cost a few transactions, not a few hundred.

The deliverer writes only delivery state, never the log, so its connection commits
with synchronous=NORMAL: a power cut can at worst forget that a delivery succeeded,
and at-least-once delivery then sends it again.

It only delivers: `prepare()` queues what the projections have reached (summaries are
read from the timeline), and the scheduler catches them up (liveblog.scheduler.main
.Projections), on the deliverer's database thread and connection. Queueing is one
process's job (on several nodes, the leader's); `start_due()` / `run_once(prepare=False)`
only send, which is what every other node runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import os
import secrets
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx

from ..errors import DriverError, LiveblogError, NotFound, RefusedAddress
from ..store.factory import open_stores
from . import queue
from .addresses import Resolver, parse_url, pin_addresses, system_resolver
from .bookkeeping import GroupCommit
from .model import Delivery
from .payloads import Payloads
from .policy import RetryPolicy, parse_retry_after
from .secretkey import Keyring
from .signing import headers as signed_headers
from .subscriptions import Subscription, get
from .summaries import record_summary_changes
from .transport import PinnedTransport

if TYPE_CHECKING:
    from ..projections import ProjectionRunner
    from ..store.sqlite.log import EventLog
    from ..store.stores import Stores
    from ..store.webhooks import WebhookStore

USER_AGENT = "liveblog-webhooks/1"
_FIXED_HEADERS = {
    "accept": "*/*",
    # The answer is read raw (an excerpt for the history): never asked compressed.
    "accept-encoding": "identity",
    "connection": "keep-alive",
}
RUN_SECONDS = 0.2
"""A run is cut after an attempt that ends this long after it was fetched: it is
recorded and the queue read again, so a subscription removed or disabled, or messages
cancelled by `redeliver --since`, stop being sent within this long (or after the
attempt in flight, for a receiver slower than this), and a node that dies leaves
little to send again. A fast receiver's run costs one trip to the database per
`batch` deliveries."""
T = TypeVar("T")


class _Stopping(Exception):
    """The deliverer is closing: an attempt still waiting for a slot is not made."""


# Per URL work, done once rather than on every attempt (the key: Deliverer._key).
_parsed = functools.lru_cache(maxsize=1024)(parse_url)


@functools.lru_cache(maxsize=1024)
def _pinned_url(url: str, address: str) -> tuple[httpx.URL, str]:
    """The URL aimed at the checked address, and the Host header it keeps."""
    original = httpx.URL(url)
    return original.copy_with(host=address), original.netloc.decode("ascii")


@dataclass(frozen=True)
class DeliveryOptions:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 15.0  # the whole attempt: DNS, connect, send, first bytes, body cap
    concurrency: int = 32  # attempts on the wire at once; below the pool size
    max_response_bytes: int = 4096
    batch: int = 50  # deliveries of a subscription sent in a row, recorded together
    lease: float = 10.0  # seconds a claim lasts unrenewed: how soon a dead node's moves


@dataclass(frozen=True)
class _Batch:
    """A run of one subscription's queue: its first pending deliveries that are due."""

    subscription: Subscription
    items: list[tuple[Delivery, bytes | LiveblogError]]


@dataclass(frozen=True)
class _Ran:
    """A run sent, for the bookkeeping: its attempts, and whether the queue may go on."""

    batch: _Batch
    attempts: list[queue.Attempted]
    go_on: bool


@dataclass
class Outcome:
    status: int | None = None
    error: str | None = None
    retry_after: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Tally:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    disabled: int = 0


class Deliverer:
    """Drains every active subscription's queue from one store (`--db`: a path or a URL),
    each only while it holds the subscription's claim.

    `transport` and `resolver` are injectable for tests (a transport that raises a
    fault on demand; a DNS answer that changes between two lookups); `tls_context`
    verifies HTTPS receivers against other authorities (an intranet's own CA, a test's).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        options: DeliveryOptions | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.time,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.options = options or DeliveryOptions()
        self.db_path = db_path
        # Who holds this deliverer's claims (a host, a process, this deliverer).
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # Every SQLite call runs on this one thread, with its own connection: waiting for
        # another process's write lock, or rendering a long summary, never stalls the
        # event loop (the attempts in flight, and in `serve` the feeds and the API).
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="webhooks-db")
        # Any backend's event store; typed as SQLite's while runner_for (and the
        # scheduler's catch-up) still want one (liveblog.projections: bound projections).
        self.log: EventLog | None = None
        self.stores: Stores
        self.hooks: WebhookStore
        self.payloads: Payloads
        self.resolver = resolver
        self.clock = clock
        self.tally = Tally()
        self._transport = transport
        self._tls_context = tls_context
        self._wire: httpx.AsyncBaseTransport | None = None
        # Every phase of an attempt (connect, write, read, pool) within the deadline;
        # asyncio.timeout bounds the whole of it.
        self._timeouts = httpx.Timeout(self.options.timeout).as_dict()
        self._slots = asyncio.Semaphore(self.options.concurrency)
        self._workers: dict[str, asyncio.Task[None]] = {}
        # One start_due at a time (the scheduler's catch-up and deliver jobs overlap):
        # senders start only there, so what it sees running stays running meanwhile.
        self._starting = asyncio.Lock()
        self._books: GroupCommit[_Ran, _Batch | None] = GroupCommit(self._book_runs)
        self._closing = False  # set on exit: finish the attempts in flight, start no more
        self._prepared_until = 0
        self._prepares = False  # set by the first `prepare`: this deliverer queues
        self._held: dict[str, float] = {}  # subscription -> until when its claim is ours
        self._renewer: asyncio.Task[None] | None = None
        self._projections: ProjectionRunner | None = None
        self._keyring = Keyring(os.fspath(db_path))
        # (subscription, secret as stored) -> HMAC key: decrypted once, it signs every
        # attempt; a rotation stores a new ciphertext, hence a new entry.
        self._keys: dict[tuple[str, str], bytes] = {}

    # -- lifecycle -------------------------------------------------------------------

    def _open(self) -> None:
        self.stores = open_stores(self.db_path)
        self.log = cast("EventLog", self.stores.events)
        self.hooks = self.stores.webhooks  # its tables present (recreated if dropped)
        self.hooks.relax_durability()
        self.payloads = Payloads(self.log, self.hooks)

    async def in_db(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the deliverer's database thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(fn, *args))

    async def __aenter__(self) -> Deliverer:
        await self.in_db(self._open)
        # One transport for every subscriber (the pools per receiver live in it), used
        # without an httpx client around it: no cookie jar (a cookie one receiver sets
        # reaches no one), no redirects followed, no proxy from the environment (it would
        # connect to an address we did not check), no auth. What a client adds to each
        # request (merging its defaults, its cookie bookkeeping) was most of the Python
        # an attempt ran.
        self._wire = self._transport or PinnedTransport(self._tls_context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        await self.drain_workers()
        await self._books.wait_idle()
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        if self._wire is not None:
            await self._wire.aclose()
        if self.log is not None:
            await self.in_db(self.log.close)
        self._db.shutdown()

    async def drain_workers(self) -> None:
        """Let in-flight attempts finish (each is bounded by the deadline)."""
        if self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    # -- queueing --------------------------------------------------------------------

    async def data_version(self) -> int:
        assert self.log is not None, "use `async with Deliverer(...)`"
        return await self.in_db(self.log.change_mark)

    async def prepare(self) -> int:
        return await self.in_db(self._prepare)

    def _prepare(self) -> int:
        """Record summary changes and queue new messages, up to the position the
        projections have reached (the scheduler catches them up: liveblog.scheduler.main).

        Summaries are recorded at the same projected position the queues are filled
        up to, so no cursor passes a position whose summaries are not recorded yet.
        """
        self._prepares = True
        if not self.hooks.any_active():
            self._prepared_until = self._projected()
            return 0
        with self.hooks.writing():
            until = self._projected()
            record_summary_changes(self.stores, until)
            self._prepared_until = until
            return queue.fill_all(self.hooks, until, self.clock())

    def _projected(self) -> int:
        """The log position every projection has reached, as they stand (read only)."""
        from ..projections import runner_for

        if self._projections is None:
            self._projections = runner_for(self.stores)
        return min(s.position for s in self._projections.status())

    @property
    def prepared_until(self) -> int:
        """The log position the last `prepare` queued up to (the projections' then)."""
        return self._prepared_until

    # -- sending ---------------------------------------------------------------------

    async def start_due(self) -> int:
        """Start a sender for every subscription with a due head, none running here and
        no other process's claim on it (the deliverer claims it first). This is all a
        node that does not prepare runs each tick: it sends what the leader queued."""
        async with self._starting:
            if self._closing:
                return 0
            runs, until = await self.in_db(self._claim_due, self._running())
            for subscription, batch in runs:
                self._held[subscription] = until
                self._workers[subscription] = asyncio.create_task(self._drain(subscription, batch))
            if runs and self._renewer is None:
                self._renewer = asyncio.create_task(self._renew_claims())
            return len(runs)

    def _running(self) -> set[str]:
        return {s for s, worker in self._workers.items() if not worker.done()}

    def _claim_due(self, running: set[str]) -> tuple[list[tuple[str, _Batch]], float]:
        """Claim the due subscriptions not already sent here, in one statement, and
        fetch their first runs in one read (database thread). A claim won with nothing
        to send (removed, disabled or emptied meanwhile) is given back at once; no
        sender of this process holds it (`start_due` runs one at a time)."""
        until = time.time() + self.options.lease  # leases run on real time, never `clock`
        due = [s for s in queue.due_subscriptions(self.hooks, self.clock()) if s not in running]
        if not due:
            return [], until
        won = self.hooks.claim_many(due, self.owner, until)
        runs = self._fetch_many([s for s in due if s in won])
        idle = [s for s in won if s not in runs]
        if idle:
            self.hooks.release_many(idle, self.owner)
        return [(s, runs[s]) for s in due if s in runs], until

    async def run_once(self, *, prepare: bool = True) -> Tally:
        """Queue what is new (as far as the projections are caught up; not with
        `prepare=False`, a node that leaves queueing to the leader) and send everything
        due now; return when none is left (failures wait for their retry time: a later
        pass)."""
        if prepare:
            await self.prepare()
        while await self.start_due():
            await self.drain_workers()
        return self.tally

    async def _renew_claims(self) -> None:
        """Keep this deliverer's claims alive while its senders work: one statement for
        all of them, every quarter lease. A claim that could not be renewed runs out
        and its sender stops before its next POST (`_holds`)."""
        lease = self.options.lease
        while not self._closing:
            await asyncio.sleep(lease / 4)
            held = list(self._held)
            if not held:
                continue
            until = time.time() + lease
            try:
                kept = await self.in_db(self.hooks.renew, held, self.owner, until)
            except LiveblogError:
                continue  # the database is away: the leases run short, the senders stop
            for subscription in held:
                if subscription not in self._held:
                    continue  # its sender finished meanwhile
                if subscription in kept:
                    self._held[subscription] = max(self._held[subscription], until)
                else:  # taken by another node after it expired: ours no more
                    del self._held[subscription]

    def _holds(self, subscription_id: str) -> bool:
        """Whether the claim is ours with time to spare: a third of a lease, more than a
        renewal period, so a sender never starts a POST on a claim about to expire."""
        until = self._held.get(subscription_id)
        return until is not None and until - time.time() > self.options.lease / 3

    async def _drain(self, subscription_id: str, first: _Batch) -> None:
        """Send one subscription's queue, head first, in runs (a batch at a time) while
        the claim is ours; record each run, then fetch the next (both with other
        senders' runs: `_book_runs`), until the bookkeeping finds none and gives the
        claim back."""
        batch: _Batch | None = first
        released = False
        try:
            while batch is not None:
                attempts, go_on = await self._send(batch)
                batch = await self._books.submit(_Ran(batch, attempts, go_on))
            released = True
        finally:
            self._held.pop(subscription_id, None)
            if not released:  # the bookkeeping failed: give the claim back on our own
                with contextlib.suppress(LiveblogError):  # a claim not released expires
                    await self.in_db(self.hooks.release, subscription_id, self.owner)

    async def _send(self, batch: _Batch) -> tuple[list[queue.Attempted], bool]:
        """POST a run of deliveries in queue order, stopping at a failure that is tried
        again later (the queue waits for it), at a claim running short, or after
        RUN_SECONDS (see there). Returns the attempts made and
        whether the queue may move on."""
        subscription = batch.subscription
        attempts: list[queue.Attempted] = []
        started = time.monotonic()
        for delivery, body in batch.items:
            if self._closing or not self._holds(subscription.id):
                return attempts, False
            try:
                outcome = await self.attempt(subscription, delivery, body)
            except _Stopping:
                return attempts, False
            attempted = self._decide(delivery, outcome)
            attempts.append(attempted)
            if attempted.outcome in ("retry", "gone"):
                return attempts, False
            if time.monotonic() - started > RUN_SECONDS:
                break
        return attempts, True

    async def _book_runs(self, ran: list[_Ran]) -> list[_Batch | None]:
        return await self.in_db(self._record_and_fetch, ran)

    def _record_and_fetch(self, ran: list[_Ran]) -> list[_Batch | None]:
        """Record these senders' runs in one transaction, fetch the next runs of those
        that go on in one read, and give back the claims of those that end (database
        thread). A sender whose next run is None has no claim left."""
        queue.record_attempts(self.hooks, [a for r in ran for a in r.attempts])
        going = [] if self._closing else [r.batch.subscription.id for r in ran if r.go_on]
        runs = self._fetch_many(going)
        ending = [r.batch.subscription.id for r in ran if r.batch.subscription.id not in runs]
        if ending:
            self.hooks.release_many(ending, self.owner)
        return [runs.get(r.batch.subscription.id) for r in ran]

    def _fetch_many(self, subscription_ids: list[str]) -> dict[str, _Batch]:
        """The next runs of these subscriptions, those that have one: their first
        pending deliveries that are due, with their bodies (database thread). A removed
        (`webhook remove`) or disabled subscription has none. A queue found empty is
        filled again first by a deliverer that prepares, when its cursor is behind what
        was prepared (its window: liveblog.webhooks.queue); one that is not behind has
        nothing to fill, and the next `prepare` would see to it anyway."""
        if not subscription_ids:
            return {}
        found = {s.id: s for s in self.hooks.subscriptions_among(subscription_ids)}
        active = [s for s in subscription_ids if s in found and found[s].status == "active"]
        pending = self.hooks.pending_many(active, self.options.batch)
        runs = {}
        for subscription_id in active:
            deliveries = pending.get(subscription_id)
            if not deliveries:
                deliveries = self._refill(found[subscription_id])
            batch = self._batch(found[subscription_id], deliveries)
            if batch is not None:
                runs[subscription_id] = batch
        return runs

    def _refill(self, subscription: Subscription) -> list[Delivery]:
        """An empty queue's next window, if this deliverer queues and it is behind."""
        if not self._prepares or subscription.cursor >= self._prepared_until:
            return []
        with self.hooks.writing():
            # Read again under the lock: `redeliver --since` may have moved its cursor.
            try:
                current = get(self.hooks, subscription.id)
            except NotFound:  # removed meanwhile
                return []
            if not queue.fill(self.hooks, current, self._prepared_until, self.clock()):
                return []
        return self.hooks.pending(subscription.id, self.options.batch)

    def _batch(self, subscription: Subscription, deliveries: list[Delivery]) -> _Batch | None:
        """The run: the deliveries that are due, in queue order, with their bodies."""
        now = self.clock()
        items: list[tuple[Delivery, bytes | LiveblogError]] = []
        for delivery in deliveries:
            if delivery.next_attempt_at > now:
                break  # only a retried head waits; what is behind it waits for it
            try:
                body: bytes | LiveblogError = self.payloads.body(delivery)
            except DriverError:
                raise  # the database failing is the scheduler's to report, not an attempt
            except LiveblogError as exc:  # e.g. a row of the log edited by hand
                body = exc
            items.append((delivery, body))
        return _Batch(subscription, items) if items else None

    async def attempt(
        self, subscription: Subscription, delivery: Delivery, body: bytes | LiveblogError
    ) -> Outcome:
        """One signed POST of `delivery`, within the deadline."""
        assert self._wire is not None, "use `async with Deliverer(...)`"
        if isinstance(body, LiveblogError):
            return Outcome(error=f"cannot build the payload: {body}")
        try:
            key = self._key(subscription)
        except LiveblogError as exc:  # the key file lost or replaced: retried, kept queued
            return Outcome(error=str(exc))
        target = _parsed(subscription.url)
        async with self._slots:
            if self._closing:
                raise _Stopping
            timestamp = int(self.clock())
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                **signed_headers(key, delivery.message_id, timestamp, body),
            }
            try:
                async with asyncio.timeout(self.options.timeout):
                    addresses = await pin_addresses(
                        target, subscription.allow_private, self.resolver
                    )
                    for address in addresses[:-1]:
                        try:  # a host with several addresses: the next if one is down
                            return await self._post(
                                target.host, address, subscription.url, headers, body
                            )
                        except (httpx.ConnectError, httpx.ConnectTimeout):
                            continue
                    return await self._post(
                        target.host, addresses[-1], subscription.url, headers, body
                    )
            except TimeoutError:
                return Outcome(error=f"no answer within {self.options.timeout:g} s")
            except RefusedAddress as exc:
                return Outcome(error=str(exc))
            except httpx.HTTPError as exc:
                return Outcome(error=f"{type(exc).__name__}: {exc}".rstrip(": "))
            except Exception as exc:  # unforeseen (a bug, a transport's fault): retried
                # like any failure, never a sender that dies and is restarted at once.
                return Outcome(error=f"unexpected {type(exc).__name__}: {exc}".rstrip(": "))

    def _key(self, subscription: Subscription) -> bytes:
        cached = (subscription.id, subscription.sealed_secret)
        key = self._keys.get(cached)
        if key is None:
            if len(self._keys) > 4096:
                self._keys.clear()
            key = self._keys[cached] = subscription.key(self._keyring)
        return key

    async def _post(
        self, host: str, address: str, url: str, headers: dict[str, str], body: bytes
    ) -> Outcome:
        wire = self._wire
        assert wire is not None
        pinned, netloc = _pinned_url(url, address)
        extensions: dict[str, Any] = {"timeout": self._timeouts}
        if pinned.scheme == "https":
            extensions["sni_hostname"] = host
        for retry in (False, True):
            request = httpx.Request(
                "POST",
                pinned,
                headers={"host": netloc, **_FIXED_HEADERS, **headers},
                content=body,
                extensions=extensions,
            )
            try:
                response = await wire.handle_async_request(request)
                break
            except httpx.RemoteProtocolError:
                # A keep-alive connection the receiver had closed: once more, afresh.
                if retry:
                    raise
        response.request = request
        try:
            excerpt = await self._read_capped(response)
        finally:
            await response.aclose()
        error = None
        if not 200 <= response.status_code < 300:
            text = " ".join(excerpt.decode("utf-8", "replace").split())[:200]
            error = f"HTTP {response.status_code}" + (f": {text}" if text else "")
            if 300 <= response.status_code < 400:
                error += " (redirects are not followed)"
        return Outcome(
            status=response.status_code,
            error=error,
            retry_after=response.headers.get("retry-after"),
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        data = bytearray()
        async for chunk in response.aiter_raw():
            data += chunk
            if len(data) >= self.options.max_response_bytes:
                break
        return bytes(data[: self.options.max_response_bytes])

    def _decide(self, delivery: Delivery, outcome: Outcome) -> queue.Attempted:
        """What an attempt's outcome means for its delivery (recorded with its run)."""
        stamp = queue.now_text()
        if outcome.delivered:
            self.tally.delivered += 1
            return queue.Attempted(delivery, "delivered", outcome.status, None, stamp)
        if outcome.status == 410:
            self.tally.disabled += 1
            return queue.Attempted(delivery, "gone", 410, "the receiver answered 410 Gone", stamp)
        now = self.clock()
        retry_after = (
            parse_retry_after(outcome.retry_after, now) if outcome.status in (429, 503) else None
        )
        delay = self.options.retry.delay(delivery.attempts + 1, retry_after)
        error = outcome.error or "failed"
        if delay is None:
            self.tally.dead += 1  # dead-lettered: the next message may go
            return queue.Attempted(delivery, "dead", outcome.status, error, stamp)
        self.tally.failed += 1
        return queue.Attempted(delivery, "retry", outcome.status, error, stamp, now + delay)
