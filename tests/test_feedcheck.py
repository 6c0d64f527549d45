"""Tests of the feed checkers in tests/feedcheck on small hand-written documents.

Each checker accepts its valid sample; each rule has at least one deliberately broken
document, and the checker must report a problem carrying that rule's code.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import feedparser
import pytest
from feedcheck import (
    ATOM_RULES,
    JSON_RULES,
    ORDER_RULES,
    RSS_RULES,
    TITLE_RULES,
    atom_entries,
    atom_tombstones,
    check_atom,
    check_feed,
    check_feed_dates_order,
    check_jsonfeed,
    check_rss,
    check_title_references,
    parse_rfc822,
    parse_rfc3339,
    rfc822_error,
    rfc3339_error,
    rss_items,
)
from feedcheck.jsonfeed import schema
from jsonschema import Draft202012Validator

# --------------------------------------------------------------------------- samples

ATOM = """\
<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"
      xmlns:at="http://purl.org/atompub/tombstones/1.0"
      xmlns:fh="http://purl.org/syndication/history/1.0" xml:lang="en">
  <id>tag:example.org,2024-11-22:budget-day</id>
  <title>Budget day live</title>
  <subtitle type="html">Rolling coverage, &lt;b&gt;as it happens&lt;/b&gt;</subtitle>
  <updated>2024-11-22T12:05:00Z</updated>
  <author><name>Liveblog desk</name><uri>https://example.org/desk</uri></author>
  <link rel="self" type="application/atom+xml" href="https://example.org/budget/atom.xml"/>
  <link rel="alternate" type="text/html" href="https://example.org/budget"/>
  <link rel="alternate" type="text/html" hreflang="cy" href="https://example.org/cy/budget"/>
  <link rel="prev-archive" href="https://example.org/budget/archive/1.xml"/>
  <generator uri="https://example.org/liveblog" version="0.1.0">liveblog</generator>
  <entry>
    <id>tag:example.org,2024-11-22:budget-day/3</id>
    <title>Chancellor sits down</title>
    <updated>2024-11-22T12:05:00Z</updated>
    <published>2024-11-22T12:01:30.250+00:00</published>
    <author><name>ann</name><email>ann@example.org</email></author>
    <link rel="alternate" type="text/html" href="https://example.org/budget#post-3"/>
    <category term="economy" label="Economy"/>
    <summary type="html">The speech is over &amp;mdash; reaction next.</summary>
    <content type="xhtml">
      <div xmlns="http://www.w3.org/1999/xhtml"><p>The speech is <em>over</em>.</p></div>
    </content>
  </entry>
  <entry>
    <id>tag:example.org,2024-11-22:budget-day/2</id>
    <title type="html">Fuel duty &lt;em&gt;frozen&lt;/em&gt;</title>
    <updated>2024-11-22T11:40:00+01:00</updated>
    <content type="html">&lt;p&gt;Frozen for another year.&lt;/p&gt;</content>
  </entry>
  <at:deleted-entry ref="tag:example.org,2024-11-22:budget-day/1"
                    when="2024-11-22T11:00:00Z">
    <at:by><name>ann</name></at:by>
    <at:comment>Posted in error.</at:comment>
  </at:deleted-entry>
</feed>
"""

ATOM_ARCHIVE = """\
<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"
      xmlns:fh="http://purl.org/syndication/history/1.0">
  <id>tag:example.org,2024-11-22:budget-day</id>
  <title>Budget day live</title>
  <updated>2024-11-22T10:00:00Z</updated>
  <author><name>Liveblog desk</name></author>
  <fh:archive/>
  <link rel="self" href="https://example.org/budget/archive/1.xml"/>
  <link rel="current" href="https://example.org/budget/atom.xml"/>
  <link rel="next-archive" href="https://example.org/budget/archive/2.xml"/>
  <entry>
    <id>tag:example.org,2024-11-22:budget-day/0</id>
    <title>We are live</title>
    <updated>2024-11-22T09:00:00Z</updated>
    <content>Good morning.</content>
  </entry>
</feed>
"""

ATOM_MINIMAL = """\
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <title/>
  <updated>2024-11-22T12:05:00-05:00</updated>
  <link rel="self" href="https://example.org/empty.xml"/>
</feed>
"""

RSS = """\
<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Budget day live</title>
    <link>https://example.org/budget</link>
    <description>Rolling coverage of budget day.</description>
    <language>en-gb</language>
    <atom:link rel="self" type="application/rss+xml" href="https://example.org/budget/rss.xml"/>
    <lastBuildDate>Fri, 22 Nov 2024 12:05:00 GMT</lastBuildDate>
    <pubDate>Fri, 22 Nov 2024 12:05:00 +0000</pubDate>
    <ttl>5</ttl>
    <managingEditor>desk@example.org (Liveblog desk)</managingEditor>
    <item>
      <title>Chancellor sits down</title>
      <link>https://example.org/budget#post-3</link>
      <description>&lt;p&gt;The speech is &lt;em&gt;over&lt;/em&gt;.&lt;/p&gt;</description>
      <guid isPermaLink="false">tag:example.org,2024-11-22:budget-day/3</guid>
      <pubDate>Fri, 22 Nov 2024 12:01:30 +0000</pubDate>
      <dc:creator>ann</dc:creator>
      <category>economy</category>
    </item>
    <item>
      <description><![CDATA[<p>Frozen for another year.</p>]]></description>
      <guid>https://example.org/budget#post-2</guid>
      <pubDate>22 Nov 2024 11:40 +0100</pubDate>
      <enclosure url="https://example.org/media/fuel.mp3" length="12345" type="audio/mpeg"/>
    </item>
  </channel>
</rss>
"""

JSONFEED: dict[str, Any] = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Budget day live",
    "home_page_url": "https://example.org/budget",
    "feed_url": "https://example.org/budget/feed.json",
    "description": "Rolling coverage of budget day.",
    "language": "en-GB",
    "authors": [{"name": "Liveblog desk", "url": "https://example.org/desk"}],
    "hubs": [{"type": "WebSub", "url": "https://hub.example.org/"}],
    "_liveblog": {"about": "https://example.org/liveblog", "day": 2},
    "items": [
        {
            "id": "tag:example.org,2024-11-22:budget-day/3",
            "url": "https://example.org/budget#post-3",
            "title": "Chancellor sits down",
            "content_html": "<p>The speech is <em>over</em>.</p>",
            "content_text": "The speech is over.",
            "date_published": "2024-11-22T12:01:30.250+00:00",
            "date_modified": "2024-11-22T12:05:00Z",
            "authors": [{"name": "ann"}],
            "tags": ["economy"],
        },
        {
            "id": "tag:example.org,2024-11-22:budget-day/2",
            "content_text": "Frozen for another year.",
            "date_published": "2024-11-22T11:40:00+01:00",
            "attachments": [
                {
                    "url": "https://example.org/media/fuel.mp3",
                    "mime_type": "audio/mpeg",
                    "size_in_bytes": 12345,
                    "duration_in_seconds": 61.5,
                }
            ],
        },
    ],
}


def jsonfeed_bytes(doc: dict[str, Any] | None = None) -> bytes:
    return json.dumps(JSONFEED if doc is None else doc, indent=2).encode("utf-8")


def edit(doc: str, old: str, new: str, *, count: int = 1) -> bytes:
    """`doc` with the first `count` occurrences of `old` replaced; `old` must be there."""
    assert doc.count(old) >= count, f"sample does not contain {old!r}"
    return doc.replace(old, new, count).encode("utf-8")


def insert_before(doc: str, anchor: str, text: str) -> bytes:
    return edit(doc, anchor, text + anchor)


def codes(problems: list[str]) -> set[str]:
    return {p.rsplit("[", 1)[1].rstrip("]") for p in problems}


# ------------------------------------------------------------------ the valid samples


def test_valid_atom() -> None:
    assert check_atom(ATOM.encode()) == []


def test_valid_atom_archive() -> None:
    assert check_atom(ATOM_ARCHIVE.encode(), archive=True) == []
    assert check_atom(ATOM_ARCHIVE.encode()) == []


def test_minimal_atom_without_entries_needs_no_author() -> None:
    assert check_atom(ATOM_MINIMAL.encode()) == []


def test_valid_rss() -> None:
    assert check_rss(RSS.encode()) == []


def test_valid_jsonfeed() -> None:
    assert check_jsonfeed(jsonfeed_bytes()) == []


def test_valid_jsonfeed_with_content_text_only_and_deprecated_author() -> None:
    doc = copy.deepcopy(JSONFEED)
    doc["author"] = {"name": "Liveblog desk"}
    del doc["items"][0]["content_html"]
    assert check_jsonfeed(jsonfeed_bytes(doc)) == []


def test_check_feed_dispatches() -> None:
    assert check_feed(ATOM.encode(), "atom") == []
    assert check_feed(RSS.encode(), "rss") == []
    assert check_feed(jsonfeed_bytes(), "json") == []
    assert check_feed(RSS.encode(), "atom") != []


@pytest.mark.parametrize(
    "sample", [ATOM, ATOM_ARCHIVE, ATOM_MINIMAL, RSS], ids=["atom", "archive", "minimal", "rss"]
)
def test_feedparser_accepts_valid_samples(sample: str) -> None:
    parsed = feedparser.parse(sample.encode())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version in ("atom10", "rss20")


def test_feedparser_reads_samples_as_we_do() -> None:
    parsed = feedparser.parse(ATOM.encode())
    assert [e.id for e in parsed.entries] == [e["id"] for e in atom_entries(ATOM.encode())]
    rss = feedparser.parse(RSS.encode())
    assert [e.id for e in rss.entries] == [i["guid"] for i in rss_items(RSS.encode())]


def test_jsonfeed_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# ------------------------------------------------------------------------- Atom rules

FEED_ALTERNATE = '<link rel="alternate" type="text/html" href="https://example.org/budget"/>'
SELF = '<link rel="self" type="application/atom+xml" href="https://example.org/budget/atom.xml"/>'
E2_ID = "<id>tag:example.org,2024-11-22:budget-day/2</id>"
E2_CONTENT = '<content type="html">&lt;p&gt;Frozen for another year.&lt;/p&gt;</content>'
E1_SUMMARY = '<summary type="html">The speech is over &amp;mdash; reaction next.</summary>'
FEED_AUTHOR = "<author><name>Liveblog desk</name><uri>https://example.org/desk</uri></author>"
TOMBSTONE_REF = 'ref="tag:example.org,2024-11-22:budget-day/1"'
TOMBSTONE_WHEN = 'when="2024-11-22T11:00:00Z"'
GENERATOR = '<generator uri="https://example.org/liveblog" version="0.1.0">liveblog</generator>'

ATOM_BROKEN: list[tuple[str, bytes, bool, str]] = [
    # (case id, document, archive flag, rule code that must be reported)
    ("truncated", ATOM[:-20].encode(), False, "atom.xml-wellformed"),
    ("undefined-entity", edit(ATOM, "Budget day live", "Budget &nbsp; live"), False,
     "atom.xml-wellformed"),
    ("control-char-ref", edit(ATOM, "Budget day live", "Budget&#x1B;day"), False,
     "atom.xml-chars"),
    ("c1-control", edit(ATOM, "Budget day live", "Budget\u0080day"), False, "atom.xml-chars"),
    ("doctype", edit(ATOM, "<feed ", "<!DOCTYPE feed>\n<feed "), False, "atom.xml-doctype"),
    ("root-rss", b"<rss version='2.0'><channel/></rss>", False, "atom.root"),
    ("root-no-namespace", edit(ATOM, ' xmlns="http://www.w3.org/2005/Atom"', ""), False,
     "atom.root"),
    ("feed-no-id", edit(ATOM, "<id>tag:example.org,2024-11-22:budget-day</id>", ""), False,
     "atom.feed-id"),
    ("feed-two-ids", insert_before(ATOM, "<title>Budget", "<id>urn:x:y</id>"), False,
     "atom.feed-id"),
    ("feed-relative-id", edit(ATOM, "<id>tag:example.org,2024-11-22:budget-day</id>",
                              "<id>budget-day</id>"), False, "atom.id-iri"),
    ("entry-id-with-space", edit(ATOM, E2_ID, "<id>tag:example.org post 2</id>"), False,
     "atom.id-iri"),
    ("feed-no-title", edit(ATOM, "<title>Budget day live</title>", ""), False, "atom.feed-title"),
    ("feed-no-updated", edit(ATOM, "<updated>2024-11-22T12:05:00Z</updated>", ""), False,
     "atom.feed-updated"),
    ("feed-two-subtitles", insert_before(ATOM, "<updated>", "<subtitle>again</subtitle>"), False,
     "atom.feed-once"),
    ("feed-two-generators", insert_before(ATOM, "<entry>", GENERATOR.replace("0.1.0", "2")),
     False, "atom.feed-once"),
    ("date-space", edit(ATOM, "2024-11-22T12:05:00Z", "2024-11-22 12:05:00Z"), False,
     "atom.date"),
    ("date-no-zone", edit(ATOM, "2024-11-22T12:05:00Z", "2024-11-22T12:05:00"), False,
     "atom.date"),
    ("date-lower-case-t", edit(ATOM, "2024-11-22T12:05:00Z", "2024-11-22t12:05:00z"), False,
     "atom.date"),
    ("date-not-real", edit(ATOM, "2024-11-22T12:05:00Z", "2024-02-30T12:05:00Z"), False,
     "atom.date"),
    ("date-rfc822", edit(ATOM, "2024-11-22T11:40:00+01:00", "Fri, 22 Nov 2024 11:40:00 +0100"),
     False, "atom.date"),
    ("published-bad", edit(ATOM, "2024-11-22T12:01:30.250+00:00", "2024-11-22T12:01:30+0000"),
     False, "atom.date"),
    ("date-bad-offset", edit(ATOM, "2024-11-22T11:40:00+01:00", "2024-11-22T11:40:00+25:00"),
     False, "atom.date"),
    ("no-author-anywhere", edit(ATOM, FEED_AUTHOR, ""), False, "atom.feed-author"),
    ("entry-without-author", edit(ATOM, FEED_AUTHOR, ""), False, "atom.entry-author"),
    ("link-no-href", edit(ATOM, FEED_ALTERNATE, '<link rel="alternate" type="text/html"/>'),
     False, "atom.link-href"),
    ("link-href-with-space", edit(ATOM, "https://example.org/budget#post-3",
                                  "https://example.org/budget post 3"), False, "atom.link-href"),
    ("two-feed-alternates", insert_before(ATOM, "<generator", FEED_ALTERNATE), False,
     "atom.link-alternate-unique"),
    ("two-alternates-no-rel", insert_before(ATOM, "<generator",
                                            '<link type="text/html" href="https://x.example/"/>'),
     False, "atom.link-alternate-unique"),
    ("two-entry-alternates", insert_before(ATOM, "<category term",
                                           '<link href="https://x.example/" type="TEXT/HTML"/>'),
     False, "atom.link-alternate-unique"),
    ("no-self", edit(ATOM, SELF, ""), False, "atom.self-link"),
    ("two-selves", insert_before(ATOM, "<generator", SELF), False, "atom.self-link"),
    ("relative-self", edit(ATOM, "https://example.org/budget/atom.xml", "atom.xml"), False,
     "atom.self-link"),
    ("metadata-after-entry", edit(edit(ATOM, GENERATOR, "").decode(), "</feed>",
                                  GENERATOR + "</feed>"), False, "atom.metadata-order"),
    ("entry-no-id", edit(ATOM, E2_ID, ""), False, "atom.entry-id"),
    ("entry-no-title", edit(ATOM, '<title type="html">Fuel duty &lt;em&gt;frozen&lt;/em&gt;'
                                  "</title>", ""), False, "atom.entry-title"),
    ("entry-no-updated", edit(ATOM, "<updated>2024-11-22T11:40:00+01:00</updated>", ""), False,
     "atom.entry-updated"),
    ("entry-two-updated", insert_before(ATOM, E2_CONTENT,
                                        "<updated>2024-11-22T11:41:00+01:00</updated>"), False,
     "atom.entry-updated"),
    ("entry-two-summaries", insert_before(ATOM, E1_SUMMARY, E1_SUMMARY), False,
     "atom.entry-once"),
    ("entry-two-contents", insert_before(ATOM, E2_CONTENT, E2_CONTENT), False,
     "atom.entry-once"),
    ("entry-two-published", insert_before(ATOM, "<author><name>ann",
                                          "<published>2024-11-22T12:00:00Z</published>"), False,
     "atom.entry-once"),
    ("no-content-no-alternate", edit(ATOM, E2_CONTENT, ""), False,
     "atom.entry-content-or-alternate"),
    ("duplicate-entry-id", edit(ATOM, E2_ID, "<id>tag:example.org,2024-11-22:budget-day/3</id>"),
     False, "atom.entry-id-unique"),
    ("content-type-cdata", edit(ATOM, '<content type="html">', '<content type="CDATA">'), False,
     "atom.content-type"),
    ("content-type-composite", edit(ATOM, '<content type="html">',
                                    '<content type="multipart/mixed">'), False,
     "atom.content-type"),
    ("content-src-not-empty", edit(ATOM, '<content type="html">',
                                   '<content type="text/html" src="https://x.example/2">'), False,
     "atom.content-src"),
    ("content-src-type-html", edit(ATOM, E2_CONTENT,
                                   '<content type="html" src="https://x.example/2"/><summary>'
                                   "s</summary>"), False, "atom.content-src"),
    ("content-src-no-summary", edit(ATOM, E2_CONTENT,
                                    '<content type="text/html" src="https://x.example/2"/>'),
     False, "atom.entry-summary"),
    ("base64-no-summary", edit(ATOM, E2_CONTENT,
                               '<content type="image/png">iVBORw0KGgo=</content>'), False,
     "atom.entry-summary"),
    ("base64-invalid", edit(ATOM, E2_CONTENT,
                            '<content type="image/png">not base64!</content><summary>s</summary>'),
     False, "atom.content-base64"),
    ("text-type-markdown", edit(ATOM, "<title>Chancellor", '<title type="markdown">Chancellor'),
     False, "atom.text-type"),
    ("html-summary-with-element", edit(ATOM, "The speech is over &amp;mdash;",
                                       "The speech is <b>over</b>"), False,
     "atom.text-no-children"),
    ("text-title-with-element", edit(ATOM, "<title>Budget day live</title>",
                                     "<title>Budget <i>day</i></title>"), False,
     "atom.text-no-children"),
    ("html-content-with-element", edit(ATOM, E2_CONTENT,
                                       '<content type="html"><p>Frozen</p></content>'), False,
     "atom.text-no-children"),
    ("text-mime-content-with-element", edit(ATOM, E2_CONTENT,
                                            '<content type="text/plain"><p>x</p></content>'),
     False, "atom.text-no-children"),
    ("xhtml-without-div", edit(ATOM, E2_CONTENT,
                               '<content type="xhtml"><p xmlns="http://www.w3.org/1999/xhtml">'
                               "x</p></content>"), False, "atom.xhtml-div"),
    ("xhtml-div-wrong-namespace", edit(ATOM, E2_CONTENT,
                                       '<content type="xhtml"><div>x</div></content>'), False,
     "atom.xhtml-div"),
    ("xhtml-text-outside-div", edit(ATOM, "<title>Chancellor sits down</title>",
                                    '<title type="xhtml">Chancellor <div xmlns='
                                    '"http://www.w3.org/1999/xhtml">sits</div></title>'), False,
     "atom.xhtml-div"),
    ("author-without-name", edit(ATOM, "<author><name>ann</name>", "<author>"), False,
     "atom.person"),
    ("author-two-emails", edit(ATOM, "<email>ann@example.org</email>",
                               "<email>ann@example.org</email><email>a@example.org</email>"),
     False, "atom.person"),
    ("author-email-not-address", edit(ATOM, "ann@example.org", "ann at example"), False,
     "atom.person"),
    ("category-without-term", edit(ATOM, '<category term="economy"', "<category"), False,
     "atom.category-term"),
    ("unknown-atom-element", insert_before(ATOM, E2_CONTENT, "<modified>yesterday</modified>"),
     False, "atom.unknown-element"),
    ("tombstone-no-ref", edit(ATOM, TOMBSTONE_REF, ""), False, "atom.tombstone-ref"),
    ("tombstone-relative-ref", edit(ATOM, TOMBSTONE_REF, 'ref="post-1"'), False,
     "atom.tombstone-ref"),
    ("tombstone-no-when", edit(ATOM, TOMBSTONE_WHEN, ""), False, "atom.tombstone-when"),
    ("tombstone-bad-when", edit(ATOM, TOMBSTONE_WHEN, 'when="yesterday"'), False,
     "atom.tombstone-when"),
    ("tombstone-two-comments", insert_before(ATOM, "<at:comment>", "<at:comment>x</at:comment>"),
     False, "atom.tombstone-children"),
    ("tombstone-by-without-name", edit(ATOM, "<at:by><name>ann</name></at:by>", "<at:by/>"),
     False, "atom.tombstone-children"),
    ("tombstone-of-present-entry", edit(ATOM, TOMBSTONE_REF,
                                        'ref="tag:example.org,2024-11-22:budget-day/2"'), False,
     "atom.tombstone-entry-conflict"),
    ("tombstone-twice", edit(ATOM, "</feed>", f"<at:deleted-entry {TOMBSTONE_REF} "
                                              'when="2024-11-22T11:01:00Z"/></feed>'), False,
     "atom.tombstone-unique"),
    ("archive-flag-on-subscription-feed", ATOM.encode(), True, "atom.archive-marker"),
    ("archive-flag-without-current", ATOM.encode(), True, "atom.archive-current"),
    ("archive-without-current", edit(ATOM_ARCHIVE, '<link rel="current" '
                                     'href="https://example.org/budget/atom.xml"/>', ""), False,
     "atom.archive-current"),
    ("archive-current-no-href", edit(ATOM_ARCHIVE, 'rel="current" '
                                     'href="https://example.org/budget/atom.xml"',
                                     'rel="current"'), True, "atom.archive-link-href"),
    ("prev-archive-no-href", edit(ATOM, 'href="https://example.org/budget/archive/1.xml"', ""),
     False, "atom.archive-link-href"),
    ("two-current-links", insert_before(ATOM_ARCHIVE, "<entry>",
                                        '<link rel="current" href="https://x.example/"/>'), True,
     "atom.archive-link-once"),
    ("iana-iri-rel-counts", insert_before(ATOM_ARCHIVE, "<entry>",
                                          '<link rel="http://www.iana.org/assignments/relation/'
                                          'current" href="https://x.example/"/>'), True,
     "atom.archive-link-once"),
    ("archive-and-complete", insert_before(ATOM_ARCHIVE, "<link rel=\"self\"", "<fh:complete/>"),
     True, "atom.archive-complete-conflict"),
    ("archive-not-empty", edit(ATOM_ARCHIVE, "<fh:archive/>", "<fh:archive>yes</fh:archive>"),
     True, "atom.archive-element"),
    ("archive-twice", edit(ATOM_ARCHIVE, "<fh:archive/>", "<fh:archive/><fh:archive/>"), True,
     "atom.archive-element"),
    ("archive-in-entry", edit(ATOM_ARCHIVE, "<content>", "<fh:archive/><content>"), False,
     "atom.archive-element"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "archive", "code"),
    [pytest.param(doc, archive, code, id=case) for case, doc, archive, code in ATOM_BROKEN],
)
def test_atom_rule_violations_are_reported(document: bytes, archive: bool, code: str) -> None:
    problems = check_atom(document, archive=archive)
    assert code in codes(problems), problems
    assert all(p.endswith("]") for p in problems)


def test_every_atom_rule_has_a_broken_document() -> None:
    assert {code for *_, code in ATOM_BROKEN} == set(ATOM_RULES)


def test_atom_problem_names_the_entry() -> None:
    problems = check_atom(edit(ATOM, "<updated>2024-11-22T11:40:00+01:00</updated>", ""))
    assert problems == [
        "entry #2 (tag:example.org,2024-11-22:budget-day/2): must contain exactly one "
        "atom:updated, found 0 [atom.entry-updated]"
    ]


def test_atom_entry_author_may_come_from_source() -> None:
    doc = edit(ATOM, FEED_AUTHOR, "").decode()
    source = "<source><author><name>wire</name></author></source>"
    assert check_atom(edit(doc, E2_CONTENT, E2_CONTENT + source)) == []


def test_atom_xml_media_type_content_may_hold_elements() -> None:
    doc = edit(
        ATOM, E2_CONTENT, '<content type="application/xhtml+xml"><x xmlns="urn:x"/></content>'
    )
    assert check_atom(doc) == []


def test_atom_entities_are_not_expanded() -> None:
    with_dtd = edit(ATOM, "<feed ", '<!DOCTYPE feed [<!ENTITY boom "BOOM">]>\n<feed ').decode()
    doc = edit(with_dtd, "Budget day live", "&boom;")
    assert "BOOM" not in " ".join(check_atom(doc))
    assert "atom.xml-doctype" in codes(check_atom(doc))


def test_atom_entries_helper() -> None:
    entries = atom_entries(ATOM.encode())
    assert [e["id"] for e in entries] == [
        "tag:example.org,2024-11-22:budget-day/3",
        "tag:example.org,2024-11-22:budget-day/2",
    ]
    first, second = entries
    assert first["title"] == "Chancellor sits down"
    assert first["updated"] == "2024-11-22T12:05:00Z"
    assert first["published"] == "2024-11-22T12:01:30.250+00:00"
    assert first["authors"] == ["ann"]
    assert first["links"] == [
        {
            "rel": "alternate",
            "href": "https://example.org/budget#post-3",
            "type": "text/html",
            "hreflang": None,
            "title": None,
        }
    ]
    assert first["content_type"] == "xhtml"
    assert first["content"] == "The speech is over."
    assert second["title"] == "Fuel duty <em>frozen</em>"
    assert second["published"] is None
    assert second["links"] == []
    assert atom_tombstones(ATOM.encode()) == [
        {
            "ref": "tag:example.org,2024-11-22:budget-day/1",
            "when": "2024-11-22T11:00:00Z",
            "by": "ann",
            "comment": "Posted in error.",
        }
    ]
    with pytest.raises(ValueError):
        atom_entries(RSS.encode())


# -------------------------------------------------------------------------- RSS rules

RSS_GUID = '<guid isPermaLink="false">tag:example.org,2024-11-22:budget-day/3</guid>'
RSS_SELF = (
    '<atom:link rel="self" type="application/rss+xml" href="https://example.org/budget/rss.xml"/>'
)
RSS_ITEM2_DESCRIPTION = "<description><![CDATA[<p>Frozen for another year.</p>]]></description>"

RSS_BROKEN: list[tuple[str, bytes, str]] = [
    ("truncated", RSS[:-10].encode(), "rss.xml-wellformed"),
    ("not-xml", b"Budget day live", "rss.xml-wellformed"),
    ("raw-control-char", edit(RSS, "Budget day live", "Budget\x1bday"), "rss.xml-chars"),
    ("control-char-ref", edit(RSS, "Budget day live", "Budget&#1;day"), "rss.xml-chars"),
    ("c1-control-ref", edit(RSS, "Budget day live", "Budget&#x85;&#x92;day"), "rss.xml-chars"),
    ("latin1-mojibake", edit(RSS, "Rolling coverage", "Rolling\u0093coverage\u0094"),
     "rss.xml-chars"),
    ("doctype", edit(RSS, "<rss ", '<!DOCTYPE rss SYSTEM "http://x.example/rss.dtd">\n<rss '),
     "rss.xml-doctype"),
    ("version-0.92", edit(RSS, 'version="2.0"', 'version="0.92"'), "rss.root"),
    ("no-version", edit(RSS, 'version="2.0"', ""), "rss.root"),
    ("root-atom", ATOM.encode(), "rss.root"),
    ("no-channel", b'<rss version="2.0"/>', "rss.channel"),
    ("two-channels", edit(RSS, "</rss>", "<channel/></rss>"), "rss.channel"),
    ("no-description", edit(RSS, "<description>Rolling coverage of budget day.</description>",
                            ""), "rss.channel-required"),
    ("no-title", edit(RSS, "<title>Budget day live</title>", ""), "rss.channel-required"),
    ("empty-link", edit(RSS, "<link>https://example.org/budget</link>", "<link/>"),
     "rss.channel-required"),
    ("two-channel-titles", insert_before(RSS, "<link>https", "<title>Again</title>"),
     "rss.channel-required"),
    ("two-languages", insert_before(RSS, "<language>", "<language>cy</language>"),
     "rss.channel-once"),
    ("two-ttls", insert_before(RSS, "<ttl>", "<ttl>10</ttl>"), "rss.channel-once"),
    ("item-without-title-or-description", edit(RSS, RSS_ITEM2_DESCRIPTION, ""),
     "rss.item-title-or-description"),
    ("item-with-empty-description", edit(RSS, RSS_ITEM2_DESCRIPTION, "<description/>"),
     "rss.item-title-or-description"),
    ("item-two-links", insert_before(RSS, "<link>https://example.org/budget#post-3",
                                     "<link>https://example.org/x</link>"), "rss.item-once"),
    ("item-two-enclosures", insert_before(RSS, "<enclosure", '<enclosure url="https://x.example/'
                                          'a.mp3" length="1" type="audio/mpeg"/>'),
     "rss.item-once"),
    ("pubdate-rfc3339", edit(RSS, "Fri, 22 Nov 2024 12:01:30 +0000", "2024-11-22T12:01:30Z"),
     "rss.date"),
    ("pubdate-no-zone", edit(RSS, "Fri, 22 Nov 2024 12:01:30 +0000", "Fri, 22 Nov 2024 12:01:30"),
     "rss.date"),
    ("pubdate-wrong-weekday", edit(RSS, "Fri, 22 Nov 2024 12:01:30", "Thu, 22 Nov 2024 12:01:30"),
     "rss.date"),
    ("pubdate-not-real", edit(RSS, "Fri, 22 Nov 2024 12:01:30", "31 Nov 2024 12:01:30"),
     "rss.date"),
    ("pubdate-full-month", edit(RSS, "22 Nov 2024 11:40", "22 November 2024 11:40"), "rss.date"),
    ("pubdate-military-zone", edit(RSS, "22 Nov 2024 11:40 +0100", "22 Nov 2024 11:40 A"),
     "rss.date"),
    ("pubdate-bad-hour", edit(RSS, "22 Nov 2024 11:40 +0100", "22 Nov 2024 24:40 +0100"),
     "rss.date"),
    ("lastbuilddate-bad", edit(RSS, "<lastBuildDate>Fri, 22 Nov 2024 12:05:00 GMT",
                               "<lastBuildDate>today"), "rss.date"),
    ("empty-guid", edit(RSS, RSS_GUID, '<guid isPermaLink="false"/>'), "rss.guid-nonempty"),
    ("ispermalink-yes", edit(RSS, 'isPermaLink="false"', 'isPermaLink="yes"'),
     "rss.guid-ispermalink"),
    ("tag-guid-as-permalink", edit(RSS, 'isPermaLink="false"', ""), "rss.guid-permalink-url"),
    ("tag-guid-ispermalink-true", edit(RSS, 'isPermaLink="false"', 'isPermaLink="true"'),
     "rss.guid-permalink-url"),
    ("duplicate-guid", edit(RSS, "<guid>https://example.org/budget#post-2</guid>", RSS_GUID),
     "rss.guid-unique"),
    ("no-self-link", edit(RSS, RSS_SELF, ""), "rss.self-link"),
    ("two-self-links", insert_before(RSS, "<lastBuildDate>", RSS_SELF), "rss.self-link"),
    ("self-link-no-href", edit(RSS, 'href="https://example.org/budget/rss.xml"', ""),
     "rss.self-link"),
    ("channel-link-no-scheme", edit(RSS, "<link>https://example.org/budget</link>",
                                    "<link>example.org/budget</link>"), "rss.url"),
    ("item-link-relative", edit(RSS, "<link>https://example.org/budget#post-3",
                                "<link>/budget#post-3"), "rss.url"),
    ("enclosure-no-length", edit(RSS, ' length="12345"', ""), "rss.enclosure"),
    ("enclosure-length-words", edit(RSS, 'length="12345"', 'length="12 kB"'), "rss.enclosure"),
    ("enclosure-no-type", edit(RSS, ' type="audio/mpeg"', ""), "rss.enclosure"),
    ("source-no-url", insert_before(RSS, "<enclosure", "<source>Wire</source>"), "rss.source"),
    ("managing-editor-name", edit(RSS, "desk@example.org (Liveblog desk)", "Liveblog desk"),
     "rss.email"),
    ("author-bare-name", insert_before(RSS, "<enclosure", "<author>ann</author>"), "rss.email"),
    ("ttl-words", edit(RSS, "<ttl>5</ttl>", "<ttl>five</ttl>"), "rss.ttl"),
    ("image-without-link", insert_before(RSS, "<item>", "<image><url>https://x.example/i.png</url>"
                                         "<title>Budget day live</title></image>"), "rss.image"),
    ("markup-in-description", edit(RSS, RSS_ITEM2_DESCRIPTION,
                                   "<description><p>Frozen</p></description>"), "rss.text-only"),
    ("markup-in-channel-title", edit(RSS, "<title>Budget day live</title>",
                                     "<title>Budget <b>day</b></title>"), "rss.text-only"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "code"), [pytest.param(doc, code, id=case) for case, doc, code in RSS_BROKEN]
)
def test_rss_rule_violations_are_reported(document: bytes, code: str) -> None:
    problems = check_rss(document)
    assert code in codes(problems), problems


def test_every_rss_rule_has_a_broken_document() -> None:
    assert {code for *_, code in RSS_BROKEN} == set(RSS_RULES)


def test_rss_items_helper() -> None:
    items = rss_items(RSS.encode())
    assert [i["guid"] for i in items] == [
        "tag:example.org,2024-11-22:budget-day/3",
        "https://example.org/budget#post-2",
    ]
    assert items[1]["description"] == "<p>Frozen for another year.</p>"
    assert items[1]["title"] is None


# -------------------------------------------------------------------- JSON Feed rules


def _without(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def _set(value: Any, *path: str | int) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _item(index: int, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return _set(value, "items", index, key)


JSON_BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # (case id, change to the valid sample, rule code, text the problem must contain)
    ("version-1.0", _set("https://jsonfeed.org/version/1", "version"), "json.schema", "version"),
    ("no-version", _without("version"), "json.schema", "'version' is a required property"),
    ("no-title", _without("title"), "json.schema", "'title' is a required property"),
    ("empty-title", _set("", "title"), "json.schema", "$.title"),
    ("no-items", _without("items"), "json.schema", "'items' is a required property"),
    ("items-object", _set({}, "items"), "json.schema", "'array'"),
    ("item-no-id", _without("items", 0, "id"), "json.schema", "'id' is a required property"),
    ("item-numeric-id", _item(0, "id", 3), "json.schema", "$.items[0].id"),
    ("item-no-content", _without("items", 1, "content_text"), "json.schema", "content_html"),
    ("item-content-not-string", _item(1, "content_text", None), "json.schema",
     "$.items[1].content_text"),
    ("unknown-key-typo", _item(0, "date_publised", "2024-11-22T12:00:00Z"), "json.schema",
     "unexpected key(s) 'date_publised'"),
    ("unknown-top-level-key", _set("x", "subtitle"), "json.schema", "unexpected key(s) 'subtitle'"),
    ("extension-not-object", _set(1, "_liveblog"), "json.schema", "$._liveblog"),
    ("authors-empty", _set([], "authors"), "json.schema", "$.authors"),
    ("author-empty-object", _set([{}], "authors"), "json.schema", "name"),
    ("author-unknown-key", _set([{"name": "x", "email": "x@example.org"}], "authors"),
     "json.schema", "unexpected key(s) 'email'"),
    ("expired-string", _set("yes", "expired"), "json.schema", "$.expired"),
    ("hub-without-url", _set([{"type": "WebSub"}], "hubs"), "json.schema",
     "'url' is a required property"),
    ("attachment-without-mime-type", _without("items", 1, "attachments", 0, "mime_type"),
     "json.schema", "'mime_type' is a required property"),
    ("attachment-bad-mime-type", _set("mp3", "items", 1, "attachments", 0, "mime_type"),
     "json.schema", "mime_type"),
    ("attachment-negative-size", _set(-1, "items", 1, "attachments", 0, "size_in_bytes"),
     "json.schema", "size_in_bytes"),
    ("tags-string", _item(0, "tags", "economy"), "json.schema", "$.items[0].tags"),
    ("language-bad", _set("English (UK)", "language"), "json.schema", "$.language"),
    ("date-space", _item(0, "date_published", "2024-11-22 12:01:30Z"), "json.date",
     "date_published"),
    ("date-no-zone", _item(0, "date_modified", "2024-11-22T12:05:00"), "json.date",
     "no timezone"),
    ("date-not-real", _item(1, "date_published", "2024-13-01T00:00:00Z"), "json.date",
     "not a real date-time"),
    ("date-epoch-number", _item(1, "date_published", 1732272000), "json.schema",
     "$.items[1].date_published"),
    ("duplicate-id", _item(1, "id", "tag:example.org,2024-11-22:budget-day/3"), "json.id-unique",
     "budget-day/3"),
    ("no-feed-url", _without("feed_url"), "json.home-and-feed-url", "feed_url"),
    ("no-home-page-url", _without("home_page_url"), "json.home-and-feed-url", "home_page_url"),
    ("same-urls", _set("https://example.org/budget", "feed_url"), "json.home-and-feed-url",
     "same"),
    ("relative-feed-url", _set("/budget/feed.json", "feed_url"), "json.url", "$.feed_url"),
    ("relative-item-url", _item(0, "url", "#post-3"), "json.url", "$.items[0].url"),
    ("next-url-is-feed-url", _set("https://example.org/budget/feed.json", "next_url"),
     "json.next-url", "next_url"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [pytest.param(change, code, text, id=case) for case, change, code, text in JSON_BROKEN],
)
def test_jsonfeed_rule_violations_are_reported(
    change: Callable[[dict[str, Any]], None], code: str, text: str
) -> None:
    doc = copy.deepcopy(JSONFEED)
    change(doc)
    problems = check_jsonfeed(jsonfeed_bytes(doc))
    assert any(f"[{code}]" in p and text in p for p in problems), problems


JSON_BROKEN_BYTES: list[tuple[str, bytes, str]] = [
    ("truncated", jsonfeed_bytes()[:-5], "json.syntax"),
    ("bom", b"\xef\xbb\xbf" + jsonfeed_bytes(), "json.syntax"),
    ("latin-1", jsonfeed_bytes().replace(b"Budget", "Bùdget".encode("latin-1")), "json.syntax"),
    ("nan", jsonfeed_bytes().replace(b"61.5", b"NaN"), "json.syntax"),
    ("array", b"[]", "json.syntax"),
    ("duplicate-key", jsonfeed_bytes().replace(b'"title": "Budget day live"',
                                               b'"title": "A", "title": "B"'),
     "json.duplicate-key"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("document", "code"),
    [pytest.param(doc, code, id=case) for case, doc, code in JSON_BROKEN_BYTES],
)
def test_jsonfeed_syntax_violations_are_reported(document: bytes, code: str) -> None:
    assert code in codes(check_jsonfeed(document))


def test_every_jsonfeed_rule_has_a_broken_document() -> None:
    tested = {code for _, _, code, _ in JSON_BROKEN} | {code for *_, code in JSON_BROKEN_BYTES}
    assert tested == set(JSON_RULES)


# ---------------------------------------------------------------- dates and ordering


@pytest.mark.parametrize(
    "value",
    [
        "2024-11-22T12:05:00Z",
        "2024-11-22T12:05:00.123456789+05:30",
        "2024-02-29T00:00:00-00:00",
        "2016-12-31T23:59:60Z",
    ],
)
def test_rfc3339_accepts(value: str) -> None:
    assert rfc3339_error(value) is None
    assert parse_rfc3339(value) is not None


@pytest.mark.parametrize(
    "value",
    [
        "2024-11-22",
        "2024-11-22T12:05Z",
        "2024-11-22T12:05:00",
        "2024-11-22T12:05:00z",
        "2024-11-22T12:05:00+0100",
        "2023-02-29T00:00:00Z",
        "2024-11-22T24:00:00Z",
        "2024-11-22T12:30:60Z",
        " 2024-11-22T12:05:00Z",
        "2024-11-22T12:05:00Z\n",
        "２０２４-11-22T12:05:00Z",
    ],
)
def test_rfc3339_rejects(value: str) -> None:
    assert rfc3339_error(value) is not None
    assert parse_rfc3339(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "Fri, 22 Nov 2024 12:05:00 GMT",
        "22 Nov 2024 12:05 +0530",
        "Fri, 22 Nov 24 12:05:00 EST",
        "Fri, 2 Feb 2024 12:05:00 Z",
        "Sat, 31 Dec 2016 23:59:60 UT",
    ],
)
def test_rfc822_accepts(value: str) -> None:
    assert rfc822_error(value) is None
    assert parse_rfc822(value) is not None


def test_rfc822_offsets_are_applied() -> None:
    assert parse_rfc822("22 Nov 2024 11:40 +0100") == parse_rfc3339("2024-11-22T10:40:00Z")
    assert parse_rfc822("22 Nov 2024 05:40 EST") == parse_rfc3339("2024-11-22T10:40:00Z")


def test_dates_order_accepts_valid_samples() -> None:
    assert check_feed_dates_order(ATOM.encode(), "atom") == []
    assert check_feed_dates_order(ATOM.encode(), "atom", field="published") != []  # entry 2
    assert check_feed_dates_order(RSS.encode(), "rss") == []
    assert check_feed_dates_order(jsonfeed_bytes(), "json") == []
    assert check_feed_dates_order(jsonfeed_bytes(), "json", field="date_published") == []


def test_dates_order_compares_instants_not_strings() -> None:
    # 11:40+01:00 is 10:40Z: older than 10:50Z although the string sorts higher.
    doc = edit(ATOM, "2024-11-22T12:05:00Z</updated>\n    <published>",
               "2024-11-22T10:50:00Z</updated>\n    <published>")  # fmt: skip
    assert check_feed_dates_order(doc, "atom") == []


def test_dates_order_reports_oldest_first() -> None:
    doc = edit(ATOM, "2024-11-22T11:40:00+01:00", "2024-11-22T11:40:00-01:00")
    problems = check_feed_dates_order(doc, "atom")
    assert codes(problems) == {"order.newest-first", "order.feed-updated"}
    rss = edit(RSS, "22 Nov 2024 11:40 +0100", "22 Nov 2024 13:40 +0000")
    assert "order.newest-first" in codes(check_feed_dates_order(rss, "rss"))
    doc_json = copy.deepcopy(JSONFEED)
    doc_json["items"].reverse()
    assert codes(check_feed_dates_order(jsonfeed_bytes(doc_json), "json")) == {"order.newest-first"}


def test_dates_order_reports_missing_dates() -> None:
    doc = copy.deepcopy(JSONFEED)
    del doc["items"][1]["date_published"]
    assert codes(check_feed_dates_order(jsonfeed_bytes(doc), "json")) == {"order.date"}
    rss = edit(RSS, "<lastBuildDate>Fri, 22 Nov 2024 12:05:00 GMT", "<lastBuildDate>Fri, 22 Nov "
               "2024 12:00:00 GMT")  # fmt: skip
    assert codes(check_feed_dates_order(rss, "rss")) == {"order.feed-updated"}


def test_every_order_rule_is_tested() -> None:
    assert set(ORDER_RULES) == {"order.date", "order.newest-first", "order.feed-updated"}


# ------------------------------------------------------------------ title references


def test_titles_with_character_references_pass() -> None:
    doc = edit(ATOM, "<title>", "<title>Fish &#38; chips &#60;b&gt; ", count=1)
    assert check_title_references(doc, "atom") == []
    assert check_title_references(RSS.encode(), "rss") == []
    assert check_title_references(jsonfeed_bytes(JSONFEED), "json") == []


@pytest.mark.parametrize(
    "written", ["Fish &amp; chips", "a &lt;b&gt; title", "<![CDATA[a <b> title]]>"]
)
@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_titles_with_entities_or_cdata_are_reported(kind: str, written: str) -> None:
    sample = ATOM if kind == "atom" else RSS
    doc = edit(sample, "<title>", f"<title>{written} ", count=1)
    problems = check_title_references(doc, kind)  # type: ignore[arg-type]
    assert codes(problems) == {"title.references"}
    assert len(problems) == 1


def test_a_prefixed_title_is_checked_too() -> None:
    doc = b'<rss xmlns:a="x"><channel><a:title>A &amp; B</a:title></channel></rss>'
    assert codes(check_title_references(doc, "rss")) == {"title.references"}


def test_every_title_rule_is_tested() -> None:
    assert set(TITLE_RULES) == {"title.references"}
