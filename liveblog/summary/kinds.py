"""How each entry kind is shown to readers: one class per kind, found by its name.

A kind's `Rendering` says, in one place, everything a reader sees of its entries:

- `feed`: a live feed entry's title, HTML content, plain text and image (Atom, RSS,
  JSON Feed and their archives);
- `node`: its fields in the day summary's structure (so the summary's JSON);
- `markdown` and `html`: its piece of the day summary in those formats (a container
  kind, a session or a talk, renders its children through their own kinds);
- `json_ld`: its `liveBlogUpdate` in the day page's schema.org JSON-LD.

`rendering(kind)` raises LookupError for a kind without one: nothing is guessed, an
entry is never shown as some other kind. Adding an entry kind is one subclass here
(`tests/test_registry_renderings.py` fails until every kind of `events.ENTRY_KINDS`
has one). The templates only lay out the page around the entries.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..cli.lines import excerpt
from .escape import headline, html_text, md, md_url, paragraphs_html

Node = dict[str, Any]
Data = Mapping[str, Any]

# XML 1.0 cannot carry these at all (C0 controls are refused at input already; a JSON
# import can still smuggle in a lone surrogate or a non-character).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


def _feed_paragraphs(text: str) -> str:
    return f"<p>{paragraphs_html(xml_safe(text))}</p>"


def _feed_escaped(text: str) -> str:
    """Text as HTML, escaped as markupsafe escapes it (so as the templates do)."""
    return html_text(xml_safe(text))


@dataclass(frozen=True)
class FeedParts:
    """A live feed entry's own content: the feeds add id, dates and author."""

    title: str
    html: str
    text: str
    image: str | None = None


@dataclass(frozen=True)
class LdUpdate:
    """A summary node's schema.org `BlogPosting`: its headline, body, and any extra
    properties (placed after the common ones)."""

    headline: str
    body: str
    extra: Mapping[str, Any] = field(default_factory=dict)


class Rendering(ABC):
    """The renderings of one entry kind. A subclass names its `KIND` and is registered;
    it must implement every method (an incomplete one cannot be instantiated)."""

    KIND: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Checked here: ABCMeta marks the class abstract only after this hook has run.
        missing = sorted(
            name
            for name in Rendering.__abstractmethods__
            if getattr(getattr(cls, name), "__isabstractmethod__", False)
        )
        if missing:
            raise TypeError(f"the rendering of {cls.KIND!r} lacks {', '.join(missing)}")
        if cls.KIND in _RENDERINGS:
            raise TypeError(f"entry kind {cls.KIND!r} has two renderings")
        _RENDERINGS[cls.KIND] = cls()

    @abstractmethod
    def feed(self, data: Data) -> FeedParts:
        """The feed entry of an entry whose current data (corrections applied) is `data`."""

    @abstractmethod
    def node(self, data: Data, started_at: str, ended_at: str | None) -> Node:
        """The kind's own fields in the summary, in their JSON order."""

    @abstractmethod
    def markdown(self, node: Node) -> str:
        """Its piece of the Markdown summary (user text through `md`)."""

    @abstractmethod
    def html(self, node: Node) -> str:
        """Its piece of the HTML article (every user text escaped)."""

    @abstractmethod
    def json_ld(self, node: Node) -> LdUpdate:
        """Its update in the day page's JSON-LD."""

    def moment(self, node: Node) -> str:
        """Its line in the summary's "Key moments" when it has no label of its own: its
        headline (a kind may say it otherwise)."""
        return self.json_ld(node).headline


_RENDERINGS: dict[str, Rendering] = {}


def rendering(kind: str) -> Rendering:
    """The renderings of entry kind `kind`; a kind without any is an error, not a guess."""
    try:
        return _RENDERINGS[kind]
    except KeyError:
        raise LookupError(f"entry kind {kind!r} has no rendering (summary/kinds.py)") from None


def rendered_kinds() -> frozenset[str]:
    """Every kind that has renderings."""
    return frozenset(_RENDERINGS)


def markdown(node: Node) -> str:
    """A summary node in Markdown, by its kind."""
    return rendering(node["type"]).markdown(node)


def html(node: Node) -> str:
    """A summary node as HTML, by its kind."""
    return rendering(node["type"]).html(node)


def _meta(node: Node) -> str:
    """The day page's line on an entry: its time (the conference's timezone), its
    reporter, and "corrected HH:MM" when a correction changed it. Empty for a node the
    renderer did not annotate with local times (`render._context` does)."""
    at = node.get("at_local")
    if not at:
        return ""
    line = (
        f'<time datetime="{html_text(node["occurred_at"])}">{html_text(at)}</time>'
        f' · <span class="author">{html_text(node["author"])}</span>'
    )
    if node.get("updated_at") and node.get("corrected_local"):
        when = html_text(node["updated_at"])
        line += (
            f' · <span class="corrected">corrected <time datetime="{when}">'
            f"{html_text(node['corrected_local'])}</time></span>"
        )
    return f'\n  <p class="meta">{line}</p>'


def _who(speaker: str, role: str | None, org: str | None) -> str:
    if role and org:
        return f"{speaker}, {role} at {org}"
    return ", ".join(x for x in (speaker, role or org) if x)


# -- the containers: sessions and talks ------------------------------------------------


class Session(Rendering):
    KIND = "session"

    def feed(self, data: Data) -> FeedParts:
        title, room = data["title"], data.get("room")
        label = str(data.get("kind") or "session").capitalize()
        details = [f"in {room}" if room else "", ""]
        if data.get("hosts"):
            details[1] = "hosted by " + ", ".join(data["hosts"])
        line = " ".join(d for d in details if d)
        plain = f"{label} “{title}” {line}".strip() + "."
        return FeedParts(f"{label}: {title}", f"<p>{_feed_escaped(plain)}</p>", plain)

    def node(self, data: Data, started_at: str, ended_at: str | None) -> Node:
        return {
            "kind": data.get("kind"),
            "title": data.get("title"),
            "room": data.get("room"),
            "hosts": list(data.get("hosts") or []),
            "started_at": started_at,
            "ended_at": ended_at,
            "flow": [],
        }

    def markdown(self, node: Node) -> str:
        children = "".join(markdown(child) for child in node["flow"])
        return f"\n## {md(node['title'])}\n\n{md(node['intro'])}\n{children}"

    def html(self, node: Node) -> str:
        children = "".join(html(child) for child in node["flow"])
        return (
            f'\n<section class="session {html_text(node["kind"])}" id="e-{html_text(node["id"])}">'
            f"\n<h2>{html_text(node['title'])}</h2>{_meta(node)}"
            f'\n<p class="intro">{html_text(node["intro"])}</p>{children}\n</section>'
        )

    def json_ld(self, node: Node) -> LdUpdate:
        body = node.get("intro") or ""
        return LdUpdate(node.get("title") or headline(body), body)


class Talk(Rendering):
    KIND = "talk"

    def feed(self, data: Data) -> FeedParts:
        title, speaker = data["title"], data["speaker"]
        who = _who(speaker, data.get("role"), data.get("organisation"))
        return FeedParts(
            f"Talk: {title} — {speaker}",
            f"<p>“{_feed_escaped(title)}”, by {_feed_escaped(who)}.</p>",
            f"“{title}”, by {who}.",
        )

    def node(self, data: Data, started_at: str, ended_at: str | None) -> Node:
        return {
            "title": data.get("title"),
            "speaker": data.get("speaker"),
            "role": data.get("role"),
            "organisation": data.get("organisation"),
            "started_at": started_at,
            "ended_at": ended_at,
            "items": [],
        }

    def markdown(self, node: Node) -> str:
        items = "".join(markdown(child) for child in node["items"])
        return f"\n### {md(node['title'])}\n\n{md(node['intro'])}\n{items}"

    def html(self, node: Node) -> str:
        items = "".join(html(child) for child in node["items"])
        return (
            f'\n<section class="talk" id="e-{html_text(node["id"])}">'
            f"\n  <h3>{html_text(node['title'])}</h3>{_meta(node)}"
            f'\n  <p class="intro">{html_text(node["intro"])}</p>{items}\n</section>'
        )

    def json_ld(self, node: Node) -> LdUpdate:
        body = node.get("intro") or ""
        return LdUpdate(node.get("title") or headline(body), body)


# -- the items ----------------------------------------------------------------------------


class Quote(Rendering):
    KIND = "quote"

    def feed(self, data: Data) -> FeedParts:
        text, speaker = data["text"], data["speaker"]
        return FeedParts(
            f"Quote — {speaker}",
            f"<blockquote>{_feed_paragraphs(text)}"
            f"<footer>— {_feed_escaped(speaker)}</footer></blockquote>",
            f"“{text}” — {speaker}",
        )

    def node(self, data: Data, started_at: str, ended_at: str | None) -> Node:
        return {"text": data.get("text"), "speaker": data.get("speaker")}

    def markdown(self, node: Node) -> str:
        text = md(node["text"]).replace("\n", "\n> ")
        return f"\n> {text}\n>\n> — {md(node['speaker'])}\n"

    def html(self, node: Node) -> str:
        return (
            f'\n<blockquote class="quote" id="e-{html_text(node["id"])}">{_meta(node)}'
            f"\n  <p>{paragraphs_html(str(node['text']))}</p>"
            f"\n  <footer>— {html_text(node['speaker'])}</footer>\n</blockquote>"
        )

    def json_ld(self, node: Node) -> LdUpdate:
        body = node.get("text") or ""
        return LdUpdate(f"Quote — {node['speaker']}", body)

    def moment(self, node: Node) -> str:
        return f"“{headline(str(node.get('text') or ''))}” — {node['speaker']}"


class Note(Rendering):
    KIND = "note"

    def feed(self, data: Data) -> FeedParts:
        text = data["text"]
        return FeedParts(f"Note — {excerpt(text)}", _feed_paragraphs(text), text)

    def node(self, data: Data, started_at: str, ended_at: str | None) -> Node:
        return {"text": data.get("text")}

    def markdown(self, node: Node) -> str:
        return f"\n{md(node['text'])}\n"

    def html(self, node: Node) -> str:
        return (
            f'\n<div class="note" id="e-{html_text(node["id"])}">{_meta(node)}'
            f"<p>{paragraphs_html(str(node['text']))}</p></div>"
        )

    def json_ld(self, node: Node) -> LdUpdate:
        body = node.get("text") or ""
        return LdUpdate(headline(body), body)


class Photo(Rendering):
    KIND = "photo"

    def feed(self, data: Data) -> FeedParts:
        url, caption = data["url"], data["caption"]
        escaped = _feed_escaped(caption)
        return FeedParts(
            f"Photo — {excerpt(caption)}",
            f'<figure><img src="{_feed_escaped(url)}" alt="{escaped}">'
            f"<figcaption>{escaped}</figcaption></figure>",
            caption,
            image=url,
        )

    def node(self, data: Data, started_at: str, ended_at: str | None) -> Node:
        return {"url": data.get("url"), "caption": data.get("caption")}

    def markdown(self, node: Node) -> str:
        caption = md(node["caption"]).replace("\n", " ")
        return f"\n![{caption}]({md_url(node['url'])})\n*{caption}*\n"

    def html(self, node: Node) -> str:
        caption = html_text(node["caption"])
        return (
            f'\n<figure class="photo" id="e-{html_text(node["id"])}">{_meta(node)}'
            f'\n  <img src="{html_text(node["url"])}" alt="{caption}" loading="lazy">'
            f"\n  <figcaption>{caption}</figcaption>\n</figure>"
        )

    def json_ld(self, node: Node) -> LdUpdate:
        body = node.get("caption") or ""
        return LdUpdate(headline(body), body, {"image": node["url"]})


class Link(Rendering):
    """A link worth following: its title links to it, its description (if any) follows."""

    KIND = "link"

    def feed(self, data: Data) -> FeedParts:
        url, title, description = data["url"], data["title"], data.get("description")
        anchor = f'<p><a href="{_feed_escaped(url)}">{_feed_escaped(title)}</a></p>'
        body = anchor + (_feed_paragraphs(description) if description else "")
        plain = f"{title} <{url}>" + (f"\n\n{description}" if description else "")
        return FeedParts(f"Link — {excerpt(title)}", body, plain)

    def node(self, data: Data, started_at: str, ended_at: str | None) -> Node:
        return {
            "url": data.get("url"),
            "title": data.get("title"),
            "description": data.get("description"),
        }

    def markdown(self, node: Node) -> str:
        title = md(node["title"]).replace("\n", " ")
        out = f"\n[{title}]({md_url(node['url'])})\n"
        if node.get("description"):
            out += f"\n{md(node['description'])}\n"
        return out

    def html(self, node: Node) -> str:
        description = node.get("description")
        return (
            f'\n<div class="link" id="e-{html_text(node["id"])}">{_meta(node)}'
            f'<p><a href="{html_text(node["url"])}">{html_text(node["title"])}</a></p>'
            + (f"<p>{paragraphs_html(str(description))}</p>" if description else "")
            + "</div>"
        )

    def json_ld(self, node: Node) -> LdUpdate:
        shared = {"@type": "WebPage", "url": node["url"], "name": node["title"]}
        return LdUpdate(node["title"], node.get("description") or "", {"sharedContent": shared})
