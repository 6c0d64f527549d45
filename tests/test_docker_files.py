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


COMPOSE_TEXT = (ROOT / "docker" / "compose.yaml").read_text()
NODES = ("node-a", "node-b")


def test_compose_runs_two_nodes_on_postgresql_behind_a_balancer() -> None:
    compose = yaml.safe_load(COMPOSE_TEXT)
    services = compose["services"]
    assert {"postgres", *NODES, "balancer"} <= set(services)
    assert "postgres" in services["postgres"]["image"]
    for name in NODES:
        node = services[name]
        env = node["environment"]
        assert env["LIVEBLOG_DB"].startswith("postgresql://"), name
        assert "@postgres:" in env["LIVEBLOG_DB"], name
        assert node["depends_on"]["postgres"]["condition"] == "service_healthy"
        # Stateless behind the balancer: no port of its own, no volume shared with another.
        assert "ports" not in node, name
        (volume,) = node["volumes"]
        assert volume.split(":")[0] in compose["volumes"]
    assert len({services[n]["volumes"][0] for n in NODES}) == len(NODES)
    # The SQLite node stays what `docker compose up` starts; the rest is opt-in.
    assert "profiles" not in services["liveblog"]
    for name in ("postgres", *NODES, "balancer"):
        assert services[name]["profiles"] == ["postgres"], name


def test_compose_holds_no_secret() -> None:
    compose = yaml.safe_load(COMPOSE_TEXT)
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            text = str(value)
            if any(word in key for word in ("PASSWORD", "SECRET", "TOKEN")):
                # Only a reference to the operator's environment, never a value.
                assert re.fullmatch(r"\$\{[A-Z_]+(:-)?\}", text), (name, key)
            if key == "LIVEBLOG_DB":
                # No password in the URL (libpq reads PGPASSWORD).
                assert not re.search(r"://[^/@]*:[^/@]*@", text), name
    assert "whsec_" not in COMPOSE_TEXT and "lbt_" not in COMPOSE_TEXT


def test_the_balancer_config_reaches_every_node_without_sticky_sessions() -> None:
    compose = yaml.safe_load(COMPOSE_TEXT)
    (mount,) = compose["services"]["balancer"]["volumes"]
    text = (ROOT / "docker" / mount.split(":")[0]).read_text()
    config = "\n".join(line.split("#")[0] for line in text.splitlines())
    upstream = re.search(r"upstream liveblog \{(.*?)\}", config, re.S)
    assert upstream is not None
    for name in NODES:
        assert f"server {name}:8000" in upstream[1]
    assert not re.search(r"^\s*(ip_hash|hash|sticky)\b", upstream[1], re.M)
    assert "non_idempotent" not in config  # a POST is never sent to a second node
    published = compose["services"]["balancer"]["ports"]
    assert any(re.search(r":8080$", p) for p in published)
