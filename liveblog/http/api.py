"""The HTTP API and feed server of `liveblog serve` (FastAPI), over the same facade.

    GET  /feeds/…                                  published feeds (no token)
    GET  /healthz                                  liveness and the log head (no token)
                                                   (HEAD too, on every GET route)
    POST /api/events                               one draft or a batch (token)
    GET  /api/events?after=POSITION                the log, export format (token)
    GET  /api/conferences/{slug}/days/{n}/summary  a day summary (token)

A write is made as the reporter whose bearer token it carries, with its role
(liveblog.service.roles). Errors are one-line JSON (`{"error": "…"}`): 401 without a valid
token, 403 not for this token's role, 404 unknown, 405 wrong method, 409 refused by the
log's state, 413 a body over the limit, 422 invalid input, 429 too many failed
authentications, 503 when the database stays locked. The token and the body's size are
checked by liveblog.http.guard, in front of FastAPI, before the body is read.
"""

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain.text import EVENT_ID_PATTERN, SLUG_PATTERN
from ..errors import (
    AmbiguousId,
    ConflictingEvent,
    ContextError,
    DriverError,
    Forbidden,
    InvalidEvent,
    InvalidWebhook,
    LiveblogError,
    NotFound,
    RefusedCommand,
    StoreUnavailable,
    VersionConflict,
)
from ..service import tokens
from ..service.drafts import COMMANDS, apply_draft
from ..service.reading import Reading
from ..service.reporting import ReportingService
from ..store.eventstore import EventStore
from ..store.factory import open_store, scheme_of, stores_on
from ..store.stores import Stores
from .feeds import mount as mount_feeds
from .guard import TOKEN_REQUIRED, Guard, one_line
from .limits import Limits

MAX_BATCH = 1000
if TYPE_CHECKING:
    DraftType = str
else:
    # Every type with a reporting command, from the registry (liveblog.service.drafts): the
    # OpenAPI description lists them, and pydantic refuses any other.
    DraftType = Literal[tuple(COMMANDS)]


class Draft(BaseModel):
    """A reporting command: the server adds the reporter's context (day, session, talk)."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=EVENT_ID_PATTERN)]
    type: DraftType
    conference: Annotated[str | None, Field(pattern=SLUG_PATTERN)] = None
    at: Annotated[str | None, Field(max_length=64)] = None
    data: dict[str, str | int | bool | list[str] | None] = Field(default_factory=dict)


class Appended(BaseModel):
    created: bool
    events: list[dict[str, Any]]


class EventPage(BaseModel):
    head: int
    events: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    head: int


_STATUS = [
    (NotFound, 404),
    (AmbiguousId, 409),
    (ContextError, 409),
    (RefusedCommand, 409),
    (Forbidden, 403),
    (ConflictingEvent, 409),
    (VersionConflict, 409),
    (InvalidWebhook, 422),
    (InvalidEvent, 422),
]


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """`{"error": "one line"}`: what every refusal of the API looks like."""
    return JSONResponse({"error": one_line(message)}, status_code=status, headers=headers)


def status_of(exc: LiveblogError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 400


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def create_app(
    db_path: str,
    feeds_dir: Path,
    *,
    limits: Limits | None = None,
    report: Callable[[str], None] = _stderr,
) -> Any:
    """The ASGI app: /feeds/ answered directly, everything else by FastAPI, all of it
    behind the guard (token before body, body limit); `report` gets failed authentications."""
    local = threading.local()

    # SQLite: one store per worker thread, kept (opening a file is cheap, a connection
    # must stay in its thread). A pooled backend (PostgreSQL): each request takes a
    # connection for itself and gives it back when it ends (`scope`), so the worker
    # threads, many more than the pool's connections, never hold one while idle.
    keep_per_thread = scheme_of(db_path) == "sqlite"

    def log() -> EventStore:
        found: EventStore | None = getattr(local, "log", None)
        if found is None:
            found = local.log = open_store(db_path)
        return found

    def stores() -> Stores:
        # The sub-stores (tokens) of the thread's log, on its connection.
        found: Stores | None = getattr(local, "stores", None)
        if found is None:
            found = local.stores = stores_on(log())
        return found

    @contextlib.contextmanager
    def scope() -> Iterator[None]:
        """One request's use of the store: on a pooled backend, the store opened in it
        is closed (its connection back in the pool) when it ends."""
        if keep_per_thread or getattr(local, "log", None) is not None:
            yield  # SQLite's kept store, or a scope already open in this thread
            return
        try:
            yield
        finally:
            found: EventStore | None = getattr(local, "log", None)
            local.log = local.stores = None
            if found is not None:
                found.close()

    bearer = HTTPBearer(auto_error=False, description="A token from `liveblog token create`")

    def reporter(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> tokens.Holder:
        holder = None
        if credentials:
            with scope():
                holder = tokens.holder_of(stores().tokens, credentials.credentials)
        if holder is None:
            raise HTTPException(
                401,
                TOKEN_REQUIRED,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return holder

    # Only the name and role cross from the dependency to the endpoint: FastAPI may run
    # the two in different worker threads, and a connection must stay in its own.
    Reporter = Annotated[tokens.Holder, Depends(reporter)]

    def reporting(holder: tokens.Holder) -> ReportingService:
        # The role goes to the service, where liveblog.service.roles decides what it may do.
        return ReportingService(log(), holder.name, role=holder.role)

    def reading(holder: tokens.Holder) -> Reading:
        return Reading(log(), holder.name, role=holder.role)

    api = FastAPI(
        title="liveblog",
        summary="Live-blog a conference: post reporting commands, read the log and summaries.",
        version="1",
    )

    @api.exception_handler(LiveblogError)
    async def _refused(request: Request, exc: LiveblogError) -> JSONResponse:
        return error(status_of(exc), str(exc))

    @api.exception_handler(StoreUnavailable)
    async def _busy(request: Request, exc: StoreUnavailable) -> JSONResponse:
        return error(503, f"database unavailable: {exc}")

    @api.exception_handler(DriverError)
    async def _driver(request: Request, exc: DriverError) -> JSONResponse:
        # A database failure that retrying will not cure (damaged, refused, misused):
        # what any unexpected exception gets, not a 4xx blaming the request.
        return error(500, "internal error")

    # Starlette's own (unknown route 404, wrong method 405) as well as FastAPI's.
    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), exc.headers)

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette still logs the traceback to stderr; the client gets one line.
        return error(500, "internal error")

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Said in one line, never echoing the input (it may not even be valid UTF-8).
        problems = [
            f"{'.'.join(str(p) for p in problem.get('loc', ()))}: {problem.get('msg', '')}"
            for problem in exc.errors()[:5]
        ]
        return error(422, "invalid request: " + "; ".join(problems))

    @api.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> Health:
        """Liveness: the database answers; `head` is the log's last position."""
        try:
            with scope():
                return Health(status="ok", head=log().head())
        except DriverError as exc:
            raise HTTPException(503, f"database unavailable: {exc}") from None

    @api.post(
        "/api/events",
        response_model=Appended,
        status_code=201,
        tags=["events"],
        responses={200: {"description": "every draft was already applied (a retry)"}},
    )
    def post_events(
        body: Draft | Annotated[list[Draft], Field(min_length=1, max_length=MAX_BATCH)],
        caller: Reporter,
        response: Response,
    ) -> Appended:
        """Apply one draft or a batch, atomically, as the token's reporter.

        Idempotent by draft id: a draft already applied returns its stored event."""
        with scope():
            return _post(body, caller, response)

    def _post(body: Draft | list[Draft], caller: tokens.Holder, response: Response) -> Appended:
        blog = reporting(caller)
        drafts = body if isinstance(body, list) else [body]
        events: list[dict[str, Any]] = []
        created = False
        with blog.log.writing():
            for index, draft in enumerate(drafts):
                try:
                    applied, new = apply_draft(
                        blog,
                        draft.id,
                        draft.type,
                        conference=draft.conference,
                        at=draft.at,
                        data=draft.data,
                    )
                except DriverError:
                    raise  # the database's failure, not this draft's: no draft prefix
                except LiveblogError as exc:
                    if len(drafts) > 1:
                        exc.args = (f"draft {index + 1} ({draft.id}): {exc}",)
                    raise
                created = created or new
                events.extend(e.to_export() for e in applied)
        if not created:
            response.status_code = 200
        return Appended(created=created, events=events)

    @api.get("/api/events", response_model=EventPage, tags=["events"])
    def get_events(
        caller: Reporter,
        after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> EventPage:
        """Events after position `after`, oldest first, in the export format."""
        with scope():
            blog = reading(caller)
            with blog.log.snapshot():
                return EventPage(
                    head=blog.log.head(),
                    events=[e.to_export() for e in blog.log.read(after=after, limit=limit)],
                )

    @api.get(
        "/api/conferences/{slug}/days/{number}/summary",
        tags=["summaries"],
        response_class=PlainTextResponse,
        responses={
            200: {
                "content": {"text/markdown": {}, "text/html": {}, "application/json": {}},
                "description": "the day summary",
            }
        },
    )
    def day_summary(
        caller: Reporter,
        slug: Annotated[str, PathParam(pattern=SLUG_PATTERN)],
        number: Annotated[int, PathParam(ge=1, le=366)],
        format: Literal["markdown", "html", "json"] = "markdown",
    ) -> Response:
        """Day `number` of conference `slug`, as markdown, HTML or JSON."""
        with scope():
            text = reading(caller).summary(number, conference=slug, fmt=format)
        media = {
            "markdown": "text/markdown; charset=utf-8",
            "html": "text/html; charset=utf-8",
            "json": "application/json",
        }[format]
        return Response(text, media_type=media)

    feeds = mount_feeds(feeds_dir, db_path)  # the database's documents, or the files

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/feeds":
            await send(
                {
                    "type": "http.response.start",
                    "status": 308,
                    "headers": [(b"location", b"/feeds/"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        elif scope["type"] == "http" and scope["path"].startswith("/feeds/"):
            await feeds(scope, receive, send)
        elif scope["type"] == "http" and scope["method"] == "HEAD":
            # HEAD is GET without the body (RFC 9110 9.3.2): load balancers and uptime
            # checks probe /healthz with it. The app answers as to a GET; uvicorn, which
            # keeps the request's own scope, sends the head and drops the body.
            await api({**scope, "method": "GET"}, receive, send)
        else:
            await api(scope, receive, send)

    def token_is_valid(token: str) -> bool:
        with scope():
            return tokens.holder_of(stores().tokens, token) is not None

    guarded = Guard(app, limits=limits or Limits(), check_token=token_is_valid, log=report)
    guarded.fastapi = api  # type: ignore[attr-defined]
    return guarded
