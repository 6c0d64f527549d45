"""Escaping user text for the summary's formats and the feeds: Markdown and HTML.

Shared by the templates (as filters), each entry kind's renderings (`kinds`) and the
feeds, so every place escapes a piece of text the same way, byte for byte.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_MD_PUNCTUATION = re.compile(r"([\\`*_\[\]])")
_MD_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")
_MD_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_MD_BLOCK_START = re.compile(r"^( {0,3})(#|>|\+|-|=|\d{1,9}(?=[.)]))", re.MULTILINE)


def md(value: object) -> str:
    """Text that Markdown shows as typed: no emphasis, links, headings, lists or HTML.

    Markdown punctuation gets backslash escapes (CommonMark), so the raw text still reads
    well in a terminal; only what could start a tag or an entity becomes an entity.
    """
    text = "" if value is None else str(value)
    text = _MD_PUNCTUATION.sub(r"\\\1", text)
    # An entity, not a backslash: a tag must not survive even a renderer that is not
    # CommonMark, nor a reader grepping the raw text.
    text = _MD_ENTITY.sub("&amp;", text)
    text = _MD_HTML_START.sub("&lt;", text)

    def block(match: re.Match[str]) -> str:
        marker = match.group(2)
        if marker[0].isdigit():  # "1." or "1)" starting a line would begin a list
            return f"{match.group(1)}{marker}\\"
        return f"{match.group(1)}\\{marker}"

    return _MD_BLOCK_START.sub(block, text)


def md_url(value: object) -> str:
    """A URL safe inside Markdown's (…): spaces, brackets, quotes and <> encoded."""
    return quote(str(value), safe=":/?#@!$&'*+,;=%~-._")


def headline(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1].rsplit(" ", 1)[0]
    return cut + "…"


def paragraphs_html(text: str) -> str:
    """`paragraphs` as a plain str, for callers that build HTML as text.

    Escaping neither makes nor takes a newline, so the whole text is escaped at once and
    its breaks replaced, left to right as str.split would find them: "\n\n" first.
    """
    return html_text(text).replace("\n\n", "</p><p>").replace("\n", "<br>")


def html_text(value: object) -> str:
    """`str(markupsafe.escape(value))`, without making a Markup on the way (on a first
    full publish of a big log, millions of them were made only to be turned back)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return (
        str(value)
        .replace("&", "&amp;")
        .replace(">", "&gt;")
        .replace("<", "&lt;")
        .replace("'", "&#39;")
        .replace('"', "&#34;")
    )
