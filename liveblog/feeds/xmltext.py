"""XML written as text, byte for byte as lxml (libxml2) serialises the same tree.

The feeds were first built as lxml trees through feedgen; building and walking a tree
of a dozen elements per entry cost more than everything else in a first full publish.
The documents are flat and their layout is fixed, so they are written here as strings,
escaped and indented as `etree.tostring(tree, pretty_print=True)` does:

- element text: `&`, `<`, `>` become entities, and a carriage return `&#13;`;
- attribute values: also `"`, and tab, newline and carriage return as `&#9;` `&#10;`
  `&#13;`;
- an element with children puts each on its own line, two spaces deeper; one with
  text (even empty: `<a></a>`) keeps it inline; one with neither closes itself.

lxml refuses strings that XML cannot carry (C0 controls other than tab, newline and
carriage return, U+FFFE, U+FFFF, lone surrogates); `check` refuses the same ones with
the same ValueError. tests/test_feeds_render.py holds the renderers to lxml's bytes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

DECLARATION = "<?xml version='1.0' encoding='UTF-8'?>\n"

# The characters lxml will not put in a tree, once encoded: lone surrogates cannot be
# (UnicodeEncodeError, as from lxml); C0 controls are single bytes that no multi-byte
# sequence contains; U+FFFE and U+FFFF are the only characters encoded as these bytes.
_C0 = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
_NONCHARACTERS = (b"\xef\xbf\xbe", b"\xef\xbf\xbf")
_REFUSED = (
    "All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters"
)


def text(value: str) -> str:
    """Element content, escaped."""
    remembered: dict[str, str] | None = getattr(_local, "remembered", None)
    if remembered is not None and len(value) >= REMEMBER_FROM:
        escaped = remembered.get(value)
        if escaped is None:
            escaped = remembered[value] = _text(value)
        return escaped
    return _text(value)


def _text(value: str) -> str:
    return (
        value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    )


REMEMBER_FROM = 16_384
"""Within `remembering()`, texts this long are escaped once (a day's whole article in the
reflections feeds: Atom and RSS both carry it; at a million events, 200 MB of them)."""
_local = threading.local()


@contextlib.contextmanager
def remembering() -> Iterator[None]:
    """Escape each long text once while this lasts, in this thread (the renders of the
    same entries in several formats); forgotten at the end."""
    outer = getattr(_local, "remembered", None)
    _local.remembered = {} if outer is None else outer
    try:
        yield
    finally:
        _local.remembered = outer


def attribute(value: str) -> str:
    """An attribute value, escaped (for double quotes)."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def check(document: str) -> bytes:
    """The finished document as UTF-8, or the ValueError lxml raises for the same text."""
    data = document.encode("utf-8")
    if len(data.translate(None, _C0)) != len(data) or (
        b"\xef\xbf" in data and any(n in data for n in _NONCHARACTERS)
    ):
        raise ValueError(_REFUSED)
    return data
