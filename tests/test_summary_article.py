"""The day article written in Python is the jinja2 template's, to the byte.

liveblog.summary.render.article_html replaced the `_article.html.j2` template (a
thousand macro calls per day, twice per publish); the template is kept in
tests/reference/ and rendered here through the shipped environment's filters and
autoescaping. Hypothesis draws articles of every shape (sessions with talks and items,
talks and items outside sessions, empty flows, a venue or none) with hostile text and
None where a field may be missing: both must give the same text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import Markup, escape

from liveblog.summary.render import _environment, article_html, html_text

REFERENCE = Path(__file__).parent / "reference"

PIECES = [
    "&", "<", ">", '"', "'", "\n", "\n\n", "\n\n\n", "\r", "\t", " ", "<b>x</b>", "&amp;",
    "{{ x }}", "é", "😀", "\u2028", "]]>",
]  # fmt: skip
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.characters()), max_size=5).map("".join)
MAYBE = st.one_of(st.none(), TEXT)
IDS = st.text("abcdef0123<&\"'", min_size=1, max_size=6)


def items() -> st.SearchStrategy[dict[str, Any]]:
    quote = st.fixed_dictionaries(
        {"type": st.just("quote"), "id": IDS, "text": TEXT, "speaker": MAYBE}
    )
    note = st.fixed_dictionaries({"type": st.just("note"), "id": IDS, "text": MAYBE})
    photo = st.fixed_dictionaries(
        {"type": st.just("photo"), "id": IDS, "url": TEXT, "caption": MAYBE}
    )
    return st.one_of(quote, note, photo)


TALKS = st.fixed_dictionaries(
    {
        "type": st.just("talk"),
        "id": IDS,
        "title": TEXT,
        "intro": TEXT,
        "items": st.lists(items(), max_size=3),
    }
)
SESSIONS = st.fixed_dictionaries(
    {
        "type": st.just("session"),
        "id": IDS,
        "kind": MAYBE,
        "title": TEXT,
        "intro": TEXT,
        "flow": st.lists(st.one_of(TALKS, items()), max_size=3),
    }
)
CONTEXTS = st.fixed_dictionaries(
    {
        "title": TEXT,
        "byline": TEXT,
        "date_long": TEXT,
        "conference": st.fixed_dictionaries({"title": TEXT, "venue": MAYBE}),
        "day": st.fixed_dictionaries({"date": TEXT}),
        "flow": st.lists(st.one_of(SESSIONS, TALKS, items()), max_size=4),
    }
)


def template_article(context: dict[str, Any]) -> str:
    env = _environment(jinja2.FileSystemLoader(str(REFERENCE)), True)
    return str(env.get_template("_article.html.j2").render(**context))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONTEXTS)
def test_article_is_the_templates(context: dict[str, Any]) -> None:
    assert article_html(context) == template_article(context)


@given(st.one_of(TEXT, st.none(), st.integers(), TEXT.map(Markup)))
def test_html_text_escapes_as_markupsafe_does(value: object) -> None:
    assert html_text(value) == str(escape(value))
