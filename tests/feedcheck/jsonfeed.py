"""JSON Feed 1.1 checker: jsonfeed-1.1.schema.json plus what a schema cannot say.

Problems have the form ``"<where>: <what is wrong> [<rule code>]"``; the codes are the
keys of `RULES`, and "(ours)" marks rules of this project rather than the spec. Every
schema violation has the code json.schema and names the JSON path and the keyword.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from .atom import clip, problem, rfc3339_error
from .rss import is_web_url

SCHEMA_PATH = Path(__file__).with_name("jsonfeed-1.1.schema.json")

RULES: dict[str, str] = {
    "json.syntax": "the bytes are UTF-8 (no BOM) JSON (RFC 8259) without NaN or Infinity, "
    "and the top level is an object",
    "json.duplicate-key": "no object has the same key twice",
    "json.schema": "the document matches jsonfeed-1.1.schema.json: version is "
    "https://jsonfeed.org/version/1.1, title and items are present, every item has an id "
    "and content_html or content_text, and every field has its spec'd type",
    "json.date": "date_published and date_modified are RFC 3339 date-times with upper-case "
    "T and Z and a timezone",
    "json.id-unique": "item ids are unique (ours)",
    "json.home-and-feed-url": "home_page_url and feed_url are both present and differ (ours)",
    "json.url": "feed_url, home_page_url, next_url, icon, favicon, hub, author, item and "
    "attachment URLs are absolute http(s) URLs (ours)",
    "json.next-url": "next_url is not the same as feed_url (JSON Feed 1.1)",
}


@functools.cache
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


def _load(data: bytes) -> tuple[Any, list[str]]:
    problems: list[str] = []
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data.startswith(codecs.BOM_UTF8):
        problems.append(problem("document", "json.syntax", "starts with a byte order mark"))
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(problem("document", "json.syntax", f"not UTF-8: {exc}"))
        return None, problems

    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: Counter[str] = Counter(key for key, _ in items)
        duplicates.extend(key for key, n in seen.items() if n > 1)
        return dict(items)

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        doc = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except ValueError as exc:
        problems.append(problem("document", "json.syntax", f"not valid JSON: {exc}"))
        return None, problems
    for key in duplicates:
        problems.append(problem("document", "json.duplicate-key", f"key {key!r} appears twice"))
    if not isinstance(doc, dict):
        problems.append(problem("document", "json.syntax", "the top level is not an object"))
        return None, problems
    return doc, problems


def _schema_message(error: ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        extra = [
            key
            for key in error.instance
            if key not in known and not any(re.search(pattern, key) for pattern in patterns)
        ]
        text = (
            f"unexpected key(s) {', '.join(map(repr, extra))}: not in JSON Feed 1.1 "
            "(extension keys start with '_') (additionalProperties)"
        )
    elif error.context:
        options = sorted({sub.message for sub in error.context})
        text = f"{error.validator} failed: needs one of: " + "; ".join(options)
    else:
        text = f"{error.message} ({error.validator})"
    return text if len(text) <= 300 else text[:297] + "..."


def json_path(parts: Iterable[str | int]) -> str:
    """A JSON path like $.items[0].authors[1].name."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _schema_problems(doc: dict[str, Any]) -> list[str]:
    found = [
        (json_path(error.absolute_path), _schema_message(error))
        for error in _validator().iter_errors(doc)
    ]
    return [problem(path, "json.schema", text) for path, text in sorted(found)]


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _url_fields(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """(json path, value) for every URL field in the feed."""
    found: list[tuple[str, Any]] = []

    def authors(where: str, holder: dict[str, Any]) -> None:
        for i, author in enumerate(_objects(holder.get("authors"))):
            found.extend((f"{where}.authors[{i}].{k}", author.get(k)) for k in ("url", "avatar"))
        if isinstance(holder.get("author"), dict):
            author = holder["author"]
            found.extend((f"{where}.author.{k}", author.get(k)) for k in ("url", "avatar"))

    found.extend(
        (f"$.{k}", doc.get(k)) for k in ("home_page_url", "feed_url", "next_url", "icon", "favicon")
    )
    authors("$", doc)
    for i, hub in enumerate(_objects(doc.get("hubs"))):
        found.append((f"$.hubs[{i}].url", hub.get("url")))
    for i, item in enumerate(_objects(doc.get("items"))):
        where = f"$.items[{i}]"
        found.extend(
            (f"{where}.{k}", item.get(k)) for k in ("url", "external_url", "image", "banner_image")
        )
        authors(where, item)
        for j, attachment in enumerate(_objects(item.get("attachments"))):
            found.append((f"{where}.attachments[{j}].url", attachment.get("url")))
    return [(path, value) for path, value in found if value is not None]


def check_jsonfeed(data: bytes) -> list[str]:
    """Problems with a JSON Feed 1.1 document; [] when it is valid."""
    doc, problems = _load(data)
    if doc is None:
        return problems
    problems.extend(_schema_problems(doc))

    for path, value in _url_fields(doc):
        if isinstance(value, str) and not is_web_url(value):
            problems.append(
                problem(path, "json.url", f"{clip(value)} is not an absolute http(s) URL")
            )
    home, feed = doc.get("home_page_url"), doc.get("feed_url")
    if home is None or feed is None:
        missing = " and ".join(k for k, v in (("home_page_url", home), ("feed_url", feed)) if not v)
        problems.append(problem("$", "json.home-and-feed-url", f"{missing} missing"))
    elif home == feed:
        problems.append(
            problem("$", "json.home-and-feed-url", "home_page_url and feed_url are the same")
        )
    if feed is not None and doc.get("next_url") == feed:
        problems.append(problem("$.next_url", "json.next-url", "next_url is the same as feed_url"))

    ids: Counter[str] = Counter()
    for i, item in enumerate(_objects(doc.get("items"))):
        for key in ("date_published", "date_modified"):
            value = item.get(key)
            if isinstance(value, str):
                reason = rfc3339_error(value)
                if reason:
                    problems.append(problem(f"$.items[{i}].{key}", "json.date", reason))
        if isinstance(item.get("id"), str):
            ids[item["id"]] += 1
    for ident, n in ids.items():
        if n > 1:
            problems.append(problem(f"id {ident!r}", "json.id-unique", f"{n} items share this id"))
    return problems
