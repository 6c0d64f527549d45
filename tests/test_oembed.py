"""`/api/oembed` on a real `liveblog serve`: oEmbed 1.0 `rich` answers, an iframe of the
conference's embed page, for the URL of its live page (wherever the feeds are hosted) or
the conference's own URL; one-line errors for everything else. No token needed."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from servers import Service, Workspace, wait_until


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    ws = Workspace(tmp_path_factory.mktemp("oembed") / "ws")
    ws.ok(
        "conference",
        "open",
        "demo",
        "--title",
        'Demo "Conf" & more',
        "--url",
        "https://example.org/events/demo",
    )
    with Service(ws) as service:

        def built() -> bool:
            response = httpx.get(f"{service.url}/", headers={"accept": "application/json"})
            return response.status_code == 200

        wait_until(built, 30, what="the timeline to be built")
        yield service


def oembed(service: Service, **params: str) -> httpx.Response:
    return httpx.get(f"{service.url}/api/oembed", params=params)


@pytest.mark.parametrize(
    "url",
    [
        "{base}/feeds/demo/index.html",
        "{base}/feeds/demo/",
        "{base}/feeds/demo/embed.html",
        "https://blog.example.net/coverage/demo/index.html",  # feeds hosted elsewhere
        "https://example.org/events/demo",  # the conference's own --url
        "https://example.org/events/demo/",
    ],
)
def test_a_live_page_url_gets_a_rich_answer(service: Service, url: str) -> None:
    response = oembed(service, url=url.format(base=service.feeds_url.removesuffix("/feeds")))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["version"] == "1.0"
    assert body["type"] == "rich"
    assert body["title"] == 'Demo "Conf" & more'
    assert body["provider_name"] == "liveblog"
    assert isinstance(body["width"], int) and isinstance(body["height"], int)
    frame = re.fullmatch(
        r'<iframe src="([^"]+)" width="(\d+)" height="(\d+)" [^>]*></iframe>', body["html"]
    )
    assert frame is not None, body["html"]
    assert html.unescape(frame[1]) == f"{service.url}/feeds/demo/embed.html"
    assert (int(frame[2]), int(frame[3])) == (body["width"], body["height"])
    # The title inside the markup is escaped: it cannot break out of the attribute.
    assert 'title="Demo &quot;Conf&quot; &amp; more' in body["html"]


def test_maxwidth_and_maxheight_bound_the_frame(service: Service) -> None:
    url = f"{service.feeds_url}/demo/index.html"
    body = oembed(service, url=url, maxwidth="300", maxheight="200", format="json").json()
    assert body["width"] <= 300 and body["height"] <= 200
    assert f'width="{body["width"]}" height="{body["height"]}"' in body["html"]
    roomy = oembed(service, url=url, maxwidth="5000").json()
    assert roomy["width"] <= 5000


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"url": "https://example.org/feeds/nope/index.html"}, 404, "no conference"),
        ({"url": "https://example.org/somewhere/else"}, 404, "no conference"),
        ({"url": "{feeds}/demo/index.html", "format": "xml"}, 501, "format=xml"),
        ({}, 400, "url is required"),
        ({"url": ""}, 400, "url is required"),
        ({"url": "ftp://example.org/demo/"}, 400, "http:// or https://"),
        ({"url": "demo"}, 400, "http:// or https://"),
        ({"url": "https://x/" + "a" * 3000}, 400, "over 2048"),
        ({"url": "{feeds}/demo/index.html", "maxwidth": "abc"}, 400, "maxwidth"),
        ({"url": "{feeds}/demo/index.html", "maxheight": "0"}, 400, "maxheight"),
        ({"url": "{feeds}/demo/index.html", "format": "yaml"}, 400, "format must be"),
        ({"url": "javascript:alert(1)//x/demo/"}, 400, "http:// or https://"),
        ({"url": "data:text/html,<script>/demo/"}, 400, "http:// or https://"),
        ({"url": "https:///demo/"}, 400, "http:// or https://"),
        ({"url": "https://x/Not_A_Slug/index.html"}, 404, "no conference"),
        ({"url": "https://x/demo/../other/index.html"}, 404, "no conference"),
        ({"url": "{feeds}/demo/index.html", "maxwidth": "\uff11\uff12"}, 400, "maxwidth"),
        ({"url": "{feeds}/demo/index.html", "maxwidth": "1" * 500}, 400, "maxwidth"),
    ],
)
def test_refusals_are_one_line(
    service: Service, params: dict[str, str], status: int, words: str
) -> None:
    filled = {k: v.format(feeds=service.feeds_url) for k, v in params.items()}
    response = oembed(service, **filled)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error and "\n" not in error


def test_only_get(service: Service) -> None:
    response = httpx.post(f"{service.url}/api/oembed", content=b"{}")
    assert response.status_code == 405
    assert "error" in response.json()


@pytest.mark.parametrize(
    "host", ['evil.example"><script>alert(1)</script>', "a" * 400, "x y", "ex\u00e4mple.org"]
)
def test_a_hostile_host_header_never_reaches_the_frame(service: Service, host: str) -> None:
    url = f"{service.feeds_url}/demo/index.html"
    response = httpx.get(
        f"{service.url}/api/oembed", params={"url": url}, headers={"host": host.encode()}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    src = re.search(r'src="([^"]*)"', body["html"])
    assert src is not None
    # The server's own address instead of what the client claimed.
    assert src[1] == f"http://127.0.0.1:{service.port}/feeds/demo/embed.html"
    assert "<script" not in body["html"] and body["provider_url"].startswith("http://127.0.0.1")
