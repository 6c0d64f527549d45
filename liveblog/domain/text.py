"""Validated string types shared by every event.

Reporters paste text from anywhere; C0 control characters break XML feeds and terminals
downstream, so they are stripped here, at the door, once. Lengths are bounded so one
runaway paste cannot bloat every feed document.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

# C0 controls, DEL and the C1 controls, except tab and newline which body text may
# carry. (C1 bytes are a sign of mis-decoded text, and some terminals act on them.)
# U+FFFE and U+FFFF are not characters at all, and XML cannot carry them.
_CONTROL_EXCEPT_TAB_NL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
_SPACES = re.compile(r"[ \t\n]+")


def clean_body(value: object) -> object:
    """Multi-line text: keep paragraphs, drop other controls, trim the ends."""
    if not isinstance(value, str):
        return value
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_EXCEPT_TAB_NL.sub("", value).strip()


def clean_line(value: object) -> object:
    """Single-line text: controls go, then every run of whitespace becomes one space.

    In that order, so cleaning is idempotent: what is stored reads back as written.
    """
    if not isinstance(value, str):
        return value
    value = _CONTROL_EXCEPT_TAB_NL.sub("", value.replace("\r", "\n"))
    return _SPACES.sub(" ", value).strip()


def _not_blank(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    return value


Body = Annotated[
    str,
    StringConstraints(max_length=10_000),
    BeforeValidator(clean_body),
    AfterValidator(_not_blank),
]
"""A quote, a note: up to 10,000 characters, paragraphs kept."""

Title = Annotated[
    str,
    StringConstraints(max_length=300),
    BeforeValidator(clean_line),
    AfterValidator(_not_blank),
]
"""A conference, day, session or talk title."""

Name = Annotated[
    str,
    StringConstraints(max_length=200),
    BeforeValidator(clean_line),
    AfterValidator(_not_blank),
]
"""A person, role, organisation, room or venue."""

Caption = Annotated[
    str,
    StringConstraints(max_length=2_000),
    BeforeValidator(clean_body),
    AfterValidator(_not_blank),
]
"""A photo's caption: up to 2,000 characters."""

Reason = Caption
"""Why an entry was retracted: the same rules as a caption."""

# Event ids are chosen by clients (so a retried post is never duplicated). They appear
# in URLs and feed ids, so they are restricted to URL-safe characters.
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$"
EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]

# A conference slug names a directory under feeds/ and a URL path segment.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]

Url = Annotated[
    str,
    BeforeValidator(clean_line),
    # No space, quote, angle bracket, brace, pipe, caret, backslash or backtick: they are
    # not allowed in a URL (RFC 3986) and would break the feeds' and pages' markup.
    StringConstraints(
        pattern=r"^https?://[^\s/?#\"<>{}|\\^`]+[^\s\"<>{}|\\^`]*$", max_length=2_000
    ),
]
"""An absolute http(s) URL."""
