"""The container files, checked statically (no Docker daemon in CI): what the README
promises about them holds, and what they copy exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = DOCKERFILE.replace("\\\n", " ")
    return [
        line.split(None, 1)[1]
        for line in joined.splitlines()
        if line.upper().startswith(name + " ")
    ]


def test_final_stage_is_a_slim_python_run_by_an_unprivileged_user() -> None:
    bases = instructions("FROM")
    assert bases and all("python:3.11-slim" in b for b in bases)
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    assert DOCKERFILE.rindex("USER ") > DOCKERFILE.rindex("FROM ")


def test_data_lives_on_a_volume_the_process_uses() -> None:
    assert any("/data" in v for v in instructions("VOLUME"))
    env = " ".join(instructions("ENV"))
    assert "LIVEBLOG_DB=/data/events.db" in env
    assert "LIVEBLOG_FEEDS=/data/feeds" in env
    assert "LIVEBLOG_HOST=0.0.0.0" in env


def test_healthcheck_asks_the_service_and_serve_is_the_command() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check
    assert instructions("ENTRYPOINT") == ['["liveblog"]']
    assert instructions("CMD")[-1] == '["serve"]'
    assert instructions("STOPSIGNAL") == ["SIGTERM"]


def test_everything_copied_exists() -> None:
    for copy in instructions("COPY"):
        if copy.startswith("--from"):
            continue
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), source


def test_compose_builds_this_dockerfile_with_a_data_volume() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    service = compose["services"]["liveblog"]
    build = service["build"]
    assert (ROOT / "docker" / build["context"] / build["dockerfile"]).resolve() == (
        ROOT / "docker" / "Dockerfile"
    )
    volume, target = service["volumes"][0].split(":")
    assert target == "/data" and volume in compose["volumes"]
    assert any(re.search(r":8000$", p) for p in service["ports"])
    # Nothing the image would leak: the context excludes local state.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "events.db*", "feeds"} <= set(ignored)
