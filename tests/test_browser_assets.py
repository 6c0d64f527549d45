"""The live page's one script and one stylesheet (liveblog/pages/static/): small, hand
written, and never loading anything from another host (the page must work from any
static host, offline from the internet, with no third party told who reads it)."""

from __future__ import annotations

import re

import pytest

from liveblog.pages.assets import ASSETS, asset

BUDGET = {"live.js": 24_000, "live.css": 16_000}
"""Bytes, unminified: a reader on conference wifi loads them with the page."""


@pytest.mark.parametrize("name", ASSETS)
def test_the_asset_is_shipped_small_and_names_no_other_host(name: str) -> None:
    text = asset(name).decode("utf-8")
    assert text.strip(), f"{name} is empty: the package ships no {name}"
    assert len(text.encode()) <= BUDGET[name], (name, len(text.encode()))
    # No absolute URL, protocol-relative URL, or CSS import: nothing from elsewhere.
    assert not re.search(r"(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text), name
    assert "@import" not in text
    assert "sourceMappingURL" not in text  # hand-written, not a minified build


def test_the_script_needs_no_unsafe_eval() -> None:
    """No eval, no code in strings: a strict Content-Security-Policy can allow it."""
    script = asset("live.js").decode("utf-8")
    assert not re.search(r"\beval\(|new Function\(|set(?:Timeout|Interval)\(\s*[\"'`]", script)
    assert ".innerHTML" not in script.replace("template.innerHTML", "")  # only the server's
