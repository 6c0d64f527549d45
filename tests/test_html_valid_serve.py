"""`liveblog serve`'s `/` page (the list of conferences) validates with the Nu HTML
checker, escapes what reporters typed, and links each conference's live page."""

from __future__ import annotations

import httpx
import pytest
from browser import ARTIFACTS, vnu_errors
from servers import Service, Workspace, wait_until

from liveblog.service.facade import Liveblog

pytestmark = pytest.mark.slow


def test_the_conference_list_is_valid_html(tmp_path_factory: pytest.TempPathFactory) -> None:
    ws = Workspace(tmp_path_factory.mktemp("root"))
    with Liveblog(ws.db, "ann") as lb:
        lb.open_conference("hostile", title="<b>Bold</b> & Co", venue="Hall <A>")
        lb.open_conference("plain", title="Plain Conference")
    with Service(ws) as service:

        def listed() -> httpx.Response | None:
            # 503 while serve builds the timeline at start: wait for the page.
            got = httpx.get(f"{service.url}/", headers={"accept": "text/html"}, timeout=30)
            return got if got.status_code == 200 else None

        response = wait_until(listed, 60, what="GET / to answer 200")
        service.stop_cleanly()
    assert response.headers["content-type"].startswith("text/html"), response.headers
    html = response.text
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html and "<b>Bold</b>" not in html
    assert "/feeds/hostile/index.html" in html and "/feeds/plain/index.html" in html
    ARTIFACTS.mkdir(exist_ok=True)
    page = ARTIFACTS / "valid-serve-root.html"
    page.write_text(html)
    errors = vnu_errors([page])
    assert errors == [], "\n".join(errors)
