"""The live page on PostgreSQL: the same log (exported from SQLite, imported into a
PostgreSQL database) publishes the same index.html, embed.html and live.json, byte for
byte, with pins, key moments, corrections and retractions (the PostgreSQL timeline's
reads of issue 14), by real `liveblog` processes."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import Workspace
from test_pages_live import FEEDS_URL, SLUG, coverage, parse

pytestmark = pytest.mark.slow

PAGES = ("index.html", "embed.html", "live.json")


def test_postgresql_publishes_the_pages_sqlite_does(tmp_path: Path, pg_url: str) -> None:
    ws = Workspace(tmp_path / "sqlite")
    ids = coverage(ws.db)
    exported = "\n".join(ws.ok("export")) + "\n"
    ws.ok("publish", "--feeds-url", FEEDS_URL, "--poll-interval", "7")
    pg = tmp_path / "pg-feeds"
    ws.ok("--db", pg_url, "import", "-", input=exported)
    ws.ok("--db", pg_url, "--feeds", str(pg), "publish", "--feeds-url", FEEDS_URL,
          "--poll-interval", "7")  # fmt: skip
    for name in PAGES:
        mine, theirs = (ws.feeds / SLUG / name).read_bytes(), (pg / SLUG / name).read_bytes()
        assert mine == theirs, name
    # Not two empty pages: the pin, the key moment and the correction are there.
    tree = parse(pg / SLUG / "index.html")
    assert tree.root.by_id("pinned").articles() == [ids["quote"]]
    assert f"entry-{ids['wrong']}" in tree.ids and f"entry-{ids['gone']}" not in tree.ids
    assert (pg / SLUG / "index.html").read_text().count('class="earlier"') == 1
