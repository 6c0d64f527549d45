"""Rendering a day summary: markdown (default), html, json, or the user's own template."""

from __future__ import annotations

import datetime as dt
import functools
import json
import zoneinfo
from pathlib import Path
from typing import Any

from markupsafe import Markup

from ..errors import InvalidEvent
from . import kinds
from .escape import html_text, md, md_url, paragraphs_html
from .model import Node, walk
from .narrative import annotate, join_names, local_time

__all__ = [
    "FORMATS",
    "article_html",
    "html_text",
    "json_ld",
    "paragraphs",
    "paragraphs_html",
    "render",
    "render_day_html",
    "render_fragment",
]

FORMATS = ("markdown", "html", "json")


def paragraphs(value: object) -> Markup:
    """Escaped text whose blank lines become paragraph breaks and newlines <br>.

    The inside of a <p> element: the caller writes the outer <p> and </p>.
    """
    return Markup(paragraphs_html(str(value)))


def json_ld(summary: Node) -> str:
    """schema.org LiveBlogPosting, safe to place inside a <script> element."""
    updates = []
    for node in walk(summary["flow"]):
        ld = kinds.rendering(node["type"]).json_ld(node)
        update: dict[str, Any] = {
            "@type": "BlogPosting",
            "identifier": node["id"],
            "headline": ld.headline,
            "datePublished": node["occurred_at"],
            "dateModified": node.get("updated_at") or node["occurred_at"],
            "author": {"@type": "Person", "name": node["author"]},
            "articleBody": ld.body,
            **ld.extra,
        }
        updates.append(update)
    conference, day = summary["conference"], summary["day"]
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "headline": summary["title"],
        "inLanguage": conference["language"],
        "coverageStartTime": summary["coverage_start"],
        "coverageEndTime": summary["coverage_end"],
        "datePublished": summary["coverage_start"],
        "author": [{"@type": "Person", "name": r} for r in summary["reporters"]],
        "about": {
            "@type": "Event",
            "name": conference["title"],
            "startDate": day["date"],
            **(
                {"location": {"@type": "Place", "name": conference["venue"]}}
                if conference.get("venue")
                else {}
            ),
        },
        "liveBlogUpdate": updates,
    }
    if conference.get("url"):
        data["url"] = f"{conference['url'].rstrip('/')}/day-{day['number']}.html"
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@functools.lru_cache(maxsize=4)
def _package_environment(html: bool) -> Any:
    """The shipped templates, compiled once per process (jinja2 caches per environment)."""
    import jinja2

    return _environment(jinja2.PackageLoader("liveblog.summary", "templates"), html)


def _environment(loader: Any, autoescape: Any, *, sandboxed: bool = False) -> Any:
    """Shipped templates run as they are; a user's runs in jinja2's immutable sandbox,
    where reaching Python internals (`__class__`, `__globals__`, so `os`) or changing
    the summary raises SecurityError instead."""
    import jinja2
    import jinja2.sandbox

    kind = jinja2.sandbox.ImmutableSandboxedEnvironment if sandboxed else jinja2.Environment
    env = kind(
        loader=loader,
        autoescape=autoescape,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md
    env.filters["mdurl"] = md_url
    env.filters["paragraphs"] = paragraphs
    # Each entry by its kind (`kinds`): the HTML one is already escaped.
    env.filters["markdown"] = kinds.markdown
    env.filters["entry_html"] = _entry_html
    return env


def _entry_html(node: Node) -> Markup:
    return Markup(kinds.html(node))


def _context(summary: Node, *, with_json_ld: bool = True) -> dict[str, Any]:
    view = summary  # built afresh for every render: annotating it in place is safe
    tz = zoneinfo.ZoneInfo(view["conference"]["timezone"])
    annotate(view, tz)
    for node in walk(view["flow"]):  # the day page's times, in the conference's zone
        node["at_local"] = local_time(node["occurred_at"], tz)
        node["corrected_local"] = local_time(node.get("updated_at"), tz)
    date = dt.date.fromisoformat(view["day"]["date"])
    context = {
        **view,
        "byline": join_names(view["reporters"]) or "the liveblog team",
        "date_long": f"{date.strftime('%A')} {date.day} {date.strftime('%B %Y')}",
        "summary": view,
    }
    if with_json_ld:
        context["json_ld"] = json_ld(view)
    return context


# -- the article, shared by the day page and the feeds' HTML content -------------------


def article_html(context: dict[str, Any]) -> str:
    """The <article> of a day summary, from its rendering context (`_context`): rendered
    once, then placed in the day page and in the reflections feeds."""
    template = _package_environment(True).get_template("_article.html.j2")
    return str(template.render(**context))


def render_day_html(summary: Node) -> tuple[str, str]:
    """The day page and the feed fragment (`render(summary, "html")` and
    `render_fragment(summary)`), from one context and one article."""
    context = _context(summary)
    article = article_html(context)
    return _page(context, article), article.strip() + "\n"


def _page(context: dict[str, Any], article: str) -> str:
    template = _package_environment(True).get_template("summary.html.j2")
    page = template.render(**context, article=Markup(article))
    return str(page).rstrip("\n") + "\n"


def render(summary: Node, fmt: str = "markdown", template: Path | None = None) -> str:
    """The summary in `fmt`, or through the user's jinja2 `template`."""
    if template is not None:
        import jinja2

        try:
            env = _environment(
                jinja2.FileSystemLoader(str(template.parent)),
                jinja2.select_autoescape(
                    ("html", "htm", "xml", "xhtml", "html.j2", "htm.j2", "xml.j2", "html.jinja")
                ),
                sandboxed=True,
            )
            return str(env.get_template(template.name).render(**_context(summary)))
        except jinja2.TemplateNotFound as exc:
            missing = template.name if exc.name == template.name else exc.name
            raise InvalidEvent(f"template {missing!r} not found (in {template.parent})") from None
        except UnicodeDecodeError:
            raise InvalidEvent(f"template {template.name}: not UTF-8 text") from None
        except jinja2.exceptions.SecurityError as exc:
            detail = " ".join(str(exc).split())
            raise InvalidEvent(
                f"template {template.name} refused: templates may only read the summary ({detail})"
            ) from None
        except Exception as exc:  # a user's template can fail in any way while rendering
            detail = " ".join(str(exc).split())
            raise InvalidEvent(
                f"template {template.name} failed: {type(exc).__name__}: {detail}"
            ) from None
    if fmt == "json":
        return json.dumps(summary, ensure_ascii=False, indent=2) + "\n"
    if fmt not in FORMATS:
        raise InvalidEvent(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "html":
        return render_day_html(summary)[0]
    markdown = _package_environment(False).get_template("summary.md.j2")
    return str(markdown.render(**_context(summary))).rstrip("\n") + "\n"


def render_fragment(summary: Node) -> str:
    """The summary's article alone, escaped HTML: a feed entry's content."""
    return article_html(_context(summary, with_json_ld=False)).strip() + "\n"
