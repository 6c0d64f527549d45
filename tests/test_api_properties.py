"""Property-based runs against a real `liveblog serve`: no input makes the API answer 5xx.

Schemathesis generates requests from the server's own /openapi.json (valid and invalid
ones); a second run uses hypothesis strategies that know the draft vocabulary, so most
drafts get past validation into the service (contexts, times, corrections), where an
unexpected exception would be a 500. Refused drafts must write nothing.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from servers import Api, Service, Workspace, draft

from liveblog.domain.events import SESSION_KINDS

CONF = "prop-conf"
SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # a failure is reported with its example; nothing to keep between runs
)


# Fields a draft of each type must carry (the service's methods take them without a
# default): a draft without one is refused with a 4xx.
REQUIRED: dict[str, set[str]] = {
    "conference.opened": {"title"},
    "day.opened": {"number"},
    "session.started": {"title"},
    "talk.started": {"title", "speaker"},
    "quote.captured": {"text"},
    "note.posted": {"text"},
    "photo.posted": {"url", "caption"},
}


@dataclass
class PropServer:
    service: Service
    token: str  # ann's, for schemathesis: its drafts may close whatever ann covers
    api: Api  # zoe's, for the draft strategies, which keep CONF open


@pytest.fixture(scope="module")
def prop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PropServer]:
    ws = Workspace(tmp_path_factory.mktemp("properties"))
    token = ws.token("ann")
    service = Service(ws)
    with service:
        api = Api(service.url, ws.token("zoe"))
        opened = api.post(
            [
                # A second open conference: a draft naming none never falls back to CONF
                # as "the only conference open".
                draft("spare-open", "conference.opened", "spare-conf", title="Spare"),
                draft("prop-open", "conference.opened", CONF, title="Properties"),
                draft("prop-day", "day.opened", CONF, number=1),
                draft("prop-session", "session.started", CONF, title="Fuzzing"),
                draft("prop-talk", "talk.started", CONF, title="Inputs", speaker="Zoe"),
                draft("prop-note", "note.posted", CONF, text="a note to correct"),
            ]
        )
        assert opened.status_code == 201, opened.text
        ann = Api(service.url, token)  # ann's own conference: her context, not CONF
        assert ann.post(draft("ann-open", "conference.opened", "ann-conf", title="A")).is_success
        assert ann.post(draft("ann-day", "day.opened", "ann-conf", number=1)).is_success
        ann.close()
        yield PropServer(service, token, api)
        api.close()
        service.stop()  # its exit status: test_service.test_serve_exits_0_on_a_signal


# -- schemathesis over the OpenAPI description ------------------------------------------------


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_from_the_openapi_spec_is_a_server_error(
    prop_server: PropServer, mode: GenerationMode
) -> None:
    # Loaded here, not with schemathesis.pytest.from_fixture: its lazy loader reads
    # `request.node._nodeid`, which pytest 9 no longer has.
    schema = schemathesis.openapi.from_url(f"{prop_server.service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 4
    auth = {"authorization": f"Bearer {prop_server.token}"}
    seen: set[str] = set()

    @SETTINGS
    @given(case=schema.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=auth, timeout=30)
        seen.add(f"{case.method} {case.path}")
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code < 500, (case.method, case.path, response.text[:500])

    run()
    assert len(seen) >= 3, seen  # the run reached (nearly) every operation


def test_the_openapi_description_covers_the_api(prop_server: PropServer) -> None:
    spec = httpx.get(f"{prop_server.service.url}/openapi.json", timeout=30).json()
    operations = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert {
        ("/healthz", "get"),
        ("/api/events", "post"),
        ("/api/events", "get"),
        ("/api/conferences/{slug}/days/{number}/summary", "get"),
    } <= operations
    assert any(s.get("scheme") == "bearer" for s in spec["components"]["securitySchemes"].values())


# -- hypothesis: drafts that know the vocabulary ----------------------------------------------


TYPES = [
    "conference.opened",
    "conference.closed",
    "day.opened",
    "day.closed",
    "session.started",
    "session.ended",
    "talk.started",
    "talk.ended",
    "quote.captured",
    "note.posted",
    "photo.posted",
    "entry.corrected",
    "entry.retracted",
]
CLOSING = {"conference.closed", "day.closed"}  # never on CONF: it must stay open to explore

texts = st.text(min_size=1, max_size=40) | st.sampled_from(
    ["", " ", "\n", "x" * 10_001, "😀", "\x00"]
)
times = (
    st.datetimes(min_value=dt.datetime(2000, 1, 1), timezones=st.sampled_from([dt.UTC, None])).map(
        lambda d: d.isoformat()
    )
    | st.sampled_from(
        [
            "2026-06-09T09:00:00+01:00",
            "2026-06-09T09:00",
            "09:30",
            "25:00",
            "2026-02-30T09:00",
            "0001-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59-23:59",
            "2026-06-09T09:00:00+99:00",
            "teatime",
            "",
        ]
    )
    | st.text(string.digits + "-:T+Z. ", max_size=30)
)
anything: st.SearchStrategy[Any] = st.one_of(
    texts,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.lists(texts, max_size=3),
)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "title": texts,
    "venue": texts,
    "room": texts,
    "role": texts,
    "organisation": texts,
    "speaker": texts,
    "caption": texts,
    "reason": texts,
    "text": texts,
    "timezone": st.sampled_from(["Europe/London", "UTC", "Mars/Olympus", "", "EST5EDT"]),
    "url": st.sampled_from(
        [
            "https://example.org/a.jpg",
            "ftp://example.org/a.jpg",
            "javascript:alert(1)",
            "",
            "http://[::1]/x.png",
            "https://例え.jp/写真.png",
        ]
    ),
    "language": st.sampled_from(["en", "fr", "en-GB", "not a language", ""]),
    "number": st.integers(min_value=-2, max_value=400) | st.sampled_from([2**63, -(2**70)]),
    "date": st.dates().map(lambda d: d.isoformat())
    | st.sampled_from(["2026-02-30", "", "tomorrow"]),
    "kind": st.sampled_from([*SESSION_KINDS, "bogus", ""]),
    "hosts": st.lists(texts, max_size=3),
    "target": st.sampled_from(["prop-note", "prop-talk", "prop", "nothing", ""]),
    "last": st.booleans(),
}
FIELDS: dict[str, list[str]] = {
    "conference.opened": ["title", "venue", "timezone", "url", "language"],
    "day.opened": ["number", "date", "title"],
    "session.started": ["title", "kind", "room", "hosts"],
    "talk.started": ["title", "speaker", "role", "organisation"],
    "quote.captured": ["text", "speaker"],
    "note.posted": ["text"],
    "photo.posted": ["url", "caption"],
    "entry.corrected": ["target", "last", "text", "speaker", "caption"],
    "entry.retracted": ["target", "last", "reason"],
}
FRESH = "fresh"
fresh_ids = itertools.count(1)
slugs = st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,10}[a-z0-9]\Z")


@st.composite
def drafts(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-typed drafts for CONF (so they reach the service), sometimes not."""
    type_ = draw(st.sampled_from(TYPES))
    data: dict[str, Any] = {}
    for name in FIELDS.get(type_, []):
        if name in REQUIRED.get(type_, set()) or draw(st.booleans()):
            wrong = draw(st.integers(0, 19)) == 0
            data[name] = draw(anything if wrong else FIELD_VALUES[name])
    if draw(st.integers(0, 19)) == 0:
        data[draw(st.text(string.ascii_lowercase, min_size=1, max_size=8))] = draw(anything)
    body: dict[str, Any] = {
        # FRESH: the test gives it a new id; sometimes an id already used (a retry).
        "id": draw(st.sampled_from([FRESH] * 18 + ["prop-note", "again"])),
        "type": type_,
        "data": data,
    }
    if type_ in CLOSING or type_ == "conference.opened":
        body["conference"] = draw(slugs.filter(lambda s: s != CONF))
    else:
        body["conference"] = draw(st.sampled_from([CONF] * 6 + [None, "nowhere"]))
    if draw(st.integers(0, 2)) == 0:
        body["at"] = draw(times)
    if body["conference"] is None:
        del body["conference"]
    return body


@settings(SETTINGS, max_examples=150)
@given(batch=st.lists(drafts(), min_size=1, max_size=3), as_list=st.booleans())
def test_no_draft_is_a_server_error_and_a_refused_one_writes_nothing(
    prop_server: PropServer, batch: list[dict[str, Any]], as_list: bool
) -> None:
    api = prop_server.api
    head = api.head()
    for item in batch:
        if item["id"] == FRESH:
            item["id"] = f"draft-{next(fresh_ids)}"
    body: Any = batch if as_list or len(batch) > 1 else batch[0]
    response = api.post(body)
    assert response.status_code < 500, (body, response.status_code, response.text[:500])
    answer = response.json()
    if response.status_code >= 400:
        assert api.head() == head, (body, response.text)
        assert isinstance(answer["error"], str), answer
        return
    assert response.status_code in (200, 201)
    created = {e["id"] for e in answer["events"] if e["position"] > head}
    assert api.head() == head + len(created)
    assert answer["created"] == bool(created)
    assert {e["author"] for e in answer["events"]} <= {"zoe", "ann"}


@SETTINGS
@given(
    after=st.integers(min_value=-5, max_value=2**64) | st.text(max_size=5),
    limit=st.none() | st.integers(min_value=-5, max_value=20_000) | st.text(max_size=5),
)
def test_reading_the_log_is_never_a_server_error(
    prop_server: PropServer, after: Any, limit: Any
) -> None:
    params = {"after": after} if limit is None else {"after": after, "limit": limit}
    response = prop_server.api.client.get("/api/events", params=params)
    assert response.status_code < 500, (params, response.text[:500])
    if response.status_code == 200:
        page = response.json()
        positions = [e["position"] for e in page["events"]]
        assert positions == sorted(positions)
        if isinstance(after, int):
            assert all(p > after for p in positions)


@SETTINGS
@given(
    slug=st.just(CONF) | slugs | st.text(max_size=12),
    number=st.integers(min_value=-3, max_value=400) | st.text(max_size=4),
    fmt=st.sampled_from(["markdown", "html", "json", "pdf", ""]),
)
def test_summaries_are_never_a_server_error(
    prop_server: PropServer, slug: str, number: Any, fmt: str
) -> None:
    path = f"/api/conferences/{quote(slug, safe='')}/days/{quote(str(number), safe='')}/summary"
    response = prop_server.api.client.get(path, params={"format": fmt})
    assert response.status_code < 500, (path, fmt, response.text[:500])


# -- what the property runs found ----------------------------------------------------------------


MISSING: list[tuple[str, dict[str, Any]]] = [
    ("conference.opened", {"venue": "Hall"}),
    ("day.opened", {}),
    ("session.started", {"room": "A"}),
    ("talk.started", {"title": "No speaker"}),
    ("talk.started", {"speaker": "No title"}),
    ("quote.captured", {"speaker": "Ann"}),
    ("note.posted", {}),
    ("note.posted", {"text": None}),
    ("photo.posted", {"caption": "no url"}),
    ("photo.posted", {"url": "https://example.org/a.jpg"}),
]


@pytest.mark.parametrize(
    ("type_", "data"), MISSING, ids=[f"{t}-{'-'.join(d) or 'empty'}" for t, d in MISSING]
)
def test_a_draft_missing_a_required_field_is_a_4xx(
    prop_server: PropServer, type_: str, data: dict[str, Any]
) -> None:
    head = prop_server.api.head()
    conference = "new-conf" if type_ == "conference.opened" else CONF
    body = {"id": f"missing-{uuid.uuid4().hex[:8]}", "type": type_, "conference": conference}
    with httpx.Client(base_url=prop_server.service.url, timeout=30) as client:
        response = client.post(  # a client of its own: a 500 leaves the connection unusable
            "/api/events", json={**body, "data": data}, headers=prop_server.api.client.headers
        )
    assert prop_server.api.head() == head
    assert 400 <= response.status_code < 500, (response.status_code, response.text)


@pytest.mark.parametrize("field", ["at", "id", "conference", "type"])
def test_invalid_input_with_a_lone_surrogate_is_a_4xx(prop_server: PropServer, field: str) -> None:
    body = {
        "id": "lone-1",
        "type": "note.posted",
        "conference": CONF,
        "at": "2026-06-09T09:00:00+00:00",
        "data": {"text": "x"},
    }
    raw = json.dumps(body).replace(f'"{field}": "', f'"{field}": "\\ud800', 1)
    assert "\\ud800" in raw
    head = prop_server.api.head()
    with httpx.Client(base_url=prop_server.service.url, timeout=30) as client:
        response = client.post(
            "/api/events",
            content=raw.encode(),
            headers={**prop_server.api.client.headers, "content-type": "application/json"},
        )
    assert prop_server.api.head() == head
    assert response.status_code == 422, (response.status_code, response.text)


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**30])
def test_a_day_number_beyond_64_bits_is_a_4xx(prop_server: PropServer, number: int) -> None:
    head = prop_server.api.head()
    with httpx.Client(base_url=prop_server.service.url, timeout=30) as client:
        response = client.post(  # a client of its own: a 500 leaves the connection unusable
            "/api/events",
            # spare-conf has no open day: the number is what is checked next
            json=draft(f"huge-{uuid.uuid4().hex[:8]}", "day.opened", "spare-conf", number=number),
            headers=prop_server.api.client.headers,
        )
    assert prop_server.api.head() == head
    assert response.status_code == 422, (response.status_code, response.text)
