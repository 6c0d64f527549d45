"""The live page's one script and one stylesheet, shipped in the package
(`liveblog/pages/static/`) and copied by `publish` next to each page: no other host."""

from __future__ import annotations

from importlib import resources

ASSETS = ("live.js", "live.css")


def asset(name: str) -> bytes:
    """The bytes of one shipped asset; empty while the package has none of that name
    (the page still reads without its script and stylesheet)."""
    if name not in ASSETS:
        raise LookupError(f"no page asset {name!r}")
    try:
        return resources.files("liveblog.pages").joinpath("static", name).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return b""


def assets() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every asset, in a fixed order."""
    return [(name, asset(name)) for name in ASSETS]
