"""Issue 10, data at rest and the smaller findings: webhook secrets encrypted in events.db
under a key kept outside it (events.db.key, 0600, or LIVEBLOG_SECRET_KEY), rotated
without changing a signature; cloud metadata addresses refused in every spelling; and a
server's error text stripped of every terminal control sequence.

Everything runs for real: the CLI as subprocesses on real files, deliveries to a real
receiver on 127.0.0.1 verified with the standardwebhooks library, the events.db bytes
read off the disk, and the table read with plain sqlite3, as Datasette would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from forkcli import run_liveblog
from receivers import Receiver, Reply, query, wait_for
from servers import CLI_SECONDS, LIVEBLOG, Proc, Workspace, assert_refused, free_port
from standardwebhooks import Webhook

CIPHERTEXT = re.compile(r"^lbk1:[0-9a-f]{16}:[A-Za-z0-9+/]+=*$")


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "server")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as made:
        yield made


def key_file(ws: Workspace) -> Path:
    return ws.db.with_name("events.db.key")


def open_conference(ws: Workspace) -> None:
    ws.ok("conference", "open", "c1", "--title", "C1")
    ws.ok("day", "open", "1")


def add_hook(ws: Workspace, url: str, *extra: str, **kwargs: Any) -> dict[str, Any]:
    """`webhook add … --json` through the real CLI; the subscription, secret included."""
    out = ws.ok("webhook", "add", url, "--allow-private", "--json", *extra, **kwargs)
    added: dict[str, Any] = json.loads(out[0])
    return added


def run_once(ws: Workspace, **env: str) -> Proc:
    return cli_env(ws, env, "run", "--once", "--no-feeds", "--retry-schedule", "1h")


def cli_env(ws: Workspace, env: dict[str, str], *args: str) -> Proc:
    """The CLI with extra environment (LIVEBLOG_SECRET_KEY)."""
    done = run_liveblog(
        list(args), env=ws.env(LIVEBLOG_AUTHOR="ann", **env), cwd=ws.root, timeout=CLI_SECONDS
    )
    return Proc(done.returncode, done.stdout, done.stderr)


def verified(secret: str, receiver: Receiver) -> list[Any]:
    """Every request the receiver got, each verified as Standard Webhooks says."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.requests]


def stored_secrets(ws: Workspace) -> dict[str, str]:
    """The secret column, read with plain sqlite3 (what Datasette shows)."""
    return {str(i): str(s) for i, s in query(ws.db, "SELECT id, secret FROM webhook_subscriptions")}


def raw_files(ws: Workspace) -> bytes:
    """The bytes on disk of events.db and its WAL (whatever exists right now)."""
    found = b""
    for suffix in ("", "-wal", "-journal"):
        path = Path(str(ws.db) + suffix)
        if path.exists():
            found += path.read_bytes()
    return found


def assert_nowhere_in_clear(ws: Workspace, secret: str) -> None:
    body = secret.removeprefix("whsec_")
    key = base64.b64decode(body)
    data = raw_files(ws)
    assert secret.encode() not in data
    assert body.encode() not in data
    assert body[:16].encode() not in data  # not even a part of it
    assert key not in data  # nor the raw HMAC key bytes
    dump = json.dumps(query(ws.db, "SELECT * FROM webhook_subscriptions"))
    assert body[:16] not in dump


# -- secrets at rest ---------------------------------------------------------------------


def test_webhook_add_stores_only_ciphertext(ws: Workspace, receiver: Receiver) -> None:
    open_conference(ws)
    # Another program (Datasette, sqlite-utils) has the file open: the WAL stays on disk.
    watcher = sqlite3.connect(str(ws.db))
    try:
        watcher.execute("SELECT count(*) FROM events").fetchone()
        generated = add_hook(ws, receiver.url)
        chosen = "whsec_" + base64.b64encode(os.urandom(32)).decode()
        given = add_hook(ws, receiver.url, "--secret", chosen)
        assert given["secret"] == chosen  # still printed once by `webhook add`
        assert Path(str(ws.db) + "-wal").exists()
        for sub in (generated, given):
            assert_nowhere_in_clear(ws, sub["secret"])
        stored = stored_secrets(ws)
        assert set(stored) == {generated["id"], given["id"]}
        assert all(CIPHERTEXT.match(s) for s in stored.values()), stored
        # A random nonce per secret: the same secret never gives the same ciphertext.
        again = add_hook(ws, receiver.url, "--secret", chosen)
        assert stored_secrets(ws)[again["id"]] != stored[given["id"]]
    finally:
        watcher.close()
    listing = ws.ok("webhook", "list", "--json")
    assert chosen.removeprefix("whsec_")[:16] not in "".join(listing)


def test_the_key_file_is_created_0600_whole_whatever_the_umask(ws: Workspace) -> None:
    open_conference(ws)
    assert not key_file(ws).exists()  # no secret stored, no key made
    done = subprocess.run(
        [*LIVEBLOG, "webhook", "add", "http://127.0.0.1:9/hook", "--allow-private"],
        capture_output=True,
        text=True,
        env=ws.env(LIVEBLOG_AUTHOR="ann"),
        cwd=ws.root,
        timeout=CLI_SECONDS,
        preexec_fn=lambda: os.umask(0),  # a careless umask must not widen it
    )
    assert done.returncode == 0, done.stderr
    info = key_file(ws).stat()
    assert stat.S_ISREG(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    lines = key_file(ws).read_text().splitlines()
    assert len(lines) == 1 and len(base64.b64decode(lines[0], validate=True)) == 32
    # No temporary file is left beside it.
    assert sorted(p.name for p in ws.root.iterdir() if ".key" in p.name) == ["events.db.key"]


def test_deliveries_stay_verifiable_across_a_key_rotation(
    ws: Workspace, receiver: Receiver
) -> None:
    open_conference(ws)
    sub = add_hook(ws, receiver.url)
    ws.ok("note", "before the rotation")
    assert run_once(ws).returncode == 0
    old_key = key_file(ws).read_bytes()
    old_stored = stored_secrets(ws)[sub["id"]]

    rotated = ws.ok("secret-key", "rotate")
    assert re.fullmatch(r"re-encrypted 1 webhook secret under key [0-9a-f]{16}", rotated[0])
    new_stored = stored_secrets(ws)[sub["id"]]
    assert new_stored != old_stored and CIPHERTEXT.match(new_stored)
    assert new_stored.split(":")[1] == rotated[0].rsplit(" ", 1)[1]  # the key id it names
    assert key_file(ws).read_bytes() != old_key
    assert len(key_file(ws).read_text().splitlines()) == 1  # the old key is gone
    assert stat.S_IMODE(key_file(ws).stat().st_mode) == 0o600
    assert_nowhere_in_clear(ws, sub["secret"])

    ws.ok("note", "after the rotation")
    assert run_once(ws).returncode == 0
    messages = verified(sub["secret"], receiver)  # the same secret verifies both
    texts = [m["data"]["data"].get("text") for m in messages]
    assert texts == ["before the rotation", "after the rotation"]

    # The old key opens nothing any more: restored by mistake, it is named as wrong.
    key_file(ws).write_bytes(old_key)
    message = assert_refused(run_once(ws))
    assert "events.db.key" in message and new_stored.split(":")[1] in message


def test_rotating_with_keys_in_the_environment(ws: Workspace, receiver: Receiver) -> None:
    first = ws.ok("secret-key", "generate")[0]
    second = ws.ok("secret-key", "generate")[0]
    assert first != second and len(base64.b64decode(first, validate=True)) == 32
    open_conference(ws)
    out = cli_env(
        ws,
        {"LIVEBLOG_SECRET_KEY": first},
        "webhook", "add", receiver.url, "--allow-private", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    sub = json.loads(out.out[0])
    assert not key_file(ws).exists()  # the variable is the key: no file is written

    both = {"LIVEBLOG_SECRET_KEY": f"{second},{first}"}
    rotated = cli_env(ws, both, "secret-key", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    ws.ok("note", "signed after the switch")
    assert run_once(ws, LIVEBLOG_SECRET_KEY=second).returncode == 0
    assert [m["data"]["data"]["text"] for m in verified(sub["secret"], receiver)] == [
        "signed after the switch"
    ]
    message = assert_refused(run_once(ws, LIVEBLOG_SECRET_KEY=first))
    assert "LIVEBLOG_SECRET_KEY" in message
    assert not key_file(ws).exists()


def test_a_missing_or_wrong_key_is_one_clear_line_and_changes_nothing(
    ws: Workspace, receiver: Receiver
) -> None:
    open_conference(ws)
    sub = add_hook(ws, receiver.url)
    ws.ok("note", "waiting for the key")
    key = key_file(ws).read_bytes()
    key_file(ws).unlink()
    before = query(ws.db, "SELECT * FROM webhook_subscriptions ORDER BY id")

    for args in (
        ("run", "--once", "--no-feeds"),
        ("serve", "--port", str(free_port())),  # refused before it listens
        ("webhook", "add", receiver.url, "--allow-private"),
        ("secret-key", "rotate"),
    ):
        message = assert_refused(ws.cli(*args))
        assert "events.db.key is missing" in message, (args, message)
        assert "internal error" not in message
        assert not key_file(ws).exists(), args  # never replaced by a new key
    assert query(ws.db, "SELECT * FROM webhook_subscriptions ORDER BY id") == before
    assert receiver.requests == []

    # Reading commands do not need the key.
    assert sub["id"] in "".join(ws.ok("webhook", "list"))
    ws.ok("status")

    # Another key: refused, naming the key the secrets need.
    key_file(ws).write_text(ws.ok("secret-key", "generate")[0] + "\n")
    key_file(ws).chmod(0o600)
    message = assert_refused(run_once(ws))
    assert "events.db.key does not hold" in message
    assert stored_secrets(ws)[sub["id"]].split(":")[1] in message
    # A malformed variable is named as such.
    message = assert_refused(run_once(ws, LIVEBLOG_SECRET_KEY="not-a-key"))
    assert "LIVEBLOG_SECRET_KEY" in message
    # A key file others can read is refused, as ssh refuses such a private key.
    key_file(ws).write_bytes(key)
    key_file(ws).chmod(0o644)
    message = assert_refused(run_once(ws))
    assert "open to other users" in message and "chmod 600 " in message
    assert query(ws.db, "SELECT * FROM webhook_subscriptions ORDER BY id") == before

    # The right key back: nothing was lost, the queued note goes out, verifiable.
    key_file(ws).chmod(0o600)
    assert run_once(ws).returncode == 0
    assert [m["data"]["data"]["text"] for m in verified(sub["secret"], receiver)] == [
        "waiting for the key"
    ]


def test_verify_says_whether_a_backups_secrets_open_with_the_key(
    ws: Workspace, receiver: Receiver
) -> None:
    """A backup holds only ciphertext: `verify` on it says whether the key it needs is
    there, and never makes a key of its own."""
    open_conference(ws)
    add_hook(ws, receiver.url)
    lines = ws.ok("verify")
    assert "ok: webhook secrets: all 1 active subscriptions' secrets open with the key" in lines
    copy = ws.root / "copy.db"
    ws.ok("backup", str(copy))
    done = cli_env(ws, {}, "--db", str(copy), "verify")
    assert done.returncode == 1, done.stdout
    problems = [line for line in done.stdout.splitlines() if line.startswith("problem: ")]
    assert len(problems) == 1 and "webhook secrets:" in problems[0], done.stdout
    assert "copy.db.key" in problems[0]
    assert not copy.with_name("copy.db.key").exists()
    copy.with_name("copy.db.key").write_bytes(key_file(ws).read_bytes())
    copy.with_name("copy.db.key").chmod(0o600)
    done = cli_env(ws, {}, "--db", str(copy), "verify")
    assert done.returncode == 0, done.stdout


def test_a_ciphertext_moved_to_another_subscription_does_not_open(
    ws: Workspace, receiver: Receiver
) -> None:
    open_conference(ws)
    ann, bob = add_hook(ws, receiver.url), add_hook(ws, receiver.url)
    stored = stored_secrets(ws)
    conn = sqlite3.connect(str(ws.db))
    with conn:
        conn.execute(
            "UPDATE webhook_subscriptions SET secret = ? WHERE id = ?",
            (stored[bob["id"]], ann["id"]),
        )
    conn.close()
    message = assert_refused(run_once(ws))
    assert ann["id"] in message and "does not decrypt" in message


def make_old_database(
    ws: Workspace, secrets: list[str], url: str = "http://127.0.0.1:9/"
) -> list[str]:
    """An events.db as the previous release left it: the same tables, the secrets in
    clear, and the encryption migration not applied (user_version 2)."""
    open_conference(ws)
    ws.ok("note", "an entry")
    conn = sqlite3.connect(str(ws.db), isolation_level=None)
    ids = []
    for n, secret in enumerate(secrets):
        ids.append(f"wh_00000000000{n}")
        conn.execute(
            "INSERT INTO webhook_subscriptions (id, url, events, conference, secret, "
            "allow_private, status, status_reason, cursor, created_at) "
            "VALUES (?, ?, '[]', NULL, ?, 1, 'active', NULL, 0, '2026-01-01T00:00:00+00:00')",
            (ids[-1], url, secret),
        )
    conn.execute("DELETE FROM _sqlite_migrations WHERE name LIKE '%encrypt%'")
    conn.execute("PRAGMA user_version = 2")
    conn.close()
    return ids


def test_upgrading_encrypts_the_clear_secrets_of_an_older_database(
    ws: Workspace, receiver: Receiver
) -> None:
    secrets = ["whsec_" + base64.b64encode(os.urandom(32)).decode() for _ in range(3)]
    ids = make_old_database(ws, secrets, receiver.url)
    assert secrets[0].encode() in raw_files(ws)  # the starting point: in clear on disk
    assert not key_file(ws).exists()

    ws.ok("log")  # the first command after the upgrade, a reading one, migrates the file
    assert stat.S_IMODE(key_file(ws).stat().st_mode) == 0o600
    stored = stored_secrets(ws)
    assert sorted(stored) == ids
    assert all(CIPHERTEXT.match(s) for s in stored.values()), stored
    for secret in secrets:
        assert_nowhere_in_clear(ws, secret)

    assert run_once(ws).returncode == 0  # the secrets still sign as before
    by_subscriber: dict[int, int] = {}
    for secret in secrets:
        by_subscriber[len(by_subscriber)] = sum(
            1 for r in receiver.requests if _verifies(secret, r.body, r.headers)
        )
    assert by_subscriber == {0: 3, 1: 3, 2: 3}  # conference.opened, day.opened, the note


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except Exception:
        return False
    return True


def test_upgrading_a_database_without_webhooks_makes_no_key(ws: Workspace) -> None:
    make_old_database(ws, [])
    ws.ok("log")
    assert query(ws.db, "PRAGMA user_version")[0][0] >= 3
    assert not key_file(ws).exists()


def test_reporting_with_encrypted_secrets_does_not_load_cryptography(ws: Workspace) -> None:
    open_conference(ws)
    add_hook(ws, "http://127.0.0.1:9/hook")
    code = (
        "import json, sys\n"
        "from liveblog.cli.main import cli\n"
        f"db = {str(ws.db)!r}\n"
        "for args in (['note', 'n'], ['quote', 'q', '--speaker', 'S'], ['log'], ['status']):\n"
        "    try:\n"
        "        cli(['--db', db, '--author', 'ann', *args], standalone_mode=False)\n"
        "    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('cryptography'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=ws.env(),
        cwd=ws.root,
        timeout=CLI_SECONDS,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


# -- cloud metadata addresses ------------------------------------------------------------

METADATA_SPELLINGS = [
    "http://192.0.0.192/hook",
    "http://3221225664/hook",  # 192.0.0.192 in decimal
    "http://0xc00000c0/hook",  # in hex
    "http://0300.0.0.0300/hook",  # in octal
    "http://[::ffff:192.0.0.192]/hook",  # IPv4-mapped IPv6
    "http://168.63.129.16/hook",
    "http://2822734096/hook",
    "http://0xa83f8110/hook",
    "http://0250.077.0201.020/hook",
    "http://168.63.33040/hook",  # a.b.c with a 16-bit last part
    "http://[::ffff:a83f:8110]/hook",
    "http://[64:ff9b::a83f:8110]/hook",  # NAT64
    "http://[2002:a83f:8110::1]/hook",  # 6to4
    "http://100.100.100.200/hook",
    "http://[fd00:ec2::254]/hook",
    "http://[fd20:ce::254]/hook",
    "http://169.254.170.23/hook",
]


@pytest.mark.parametrize("url", METADATA_SPELLINGS)
def test_cloud_metadata_addresses_are_refused_even_when_private_ones_are_allowed(
    ws: Workspace, url: str
) -> None:
    open_conference(ws)
    message = assert_refused(ws.cli("webhook", "add", url, "--allow-private"))
    assert "is a cloud metadata address" in message, message
    assert "--allow-private permits" not in message  # nothing does
    assert query(ws.db, "SELECT count(*) FROM webhook_subscriptions")[0][0] == 0


# -- a server's error text on the reporter's terminal ---------------------------------------

HOSTILE = (
    "\x1b]0;owned title\x07no talk is open"
    "\x1b]52;c;ZWNobyBvd25lZA==\x1b\\"  # OSC 52: write the clipboard
    "\x1bP+q544e\x1b\\"  # DCS
    "\x1b_apc payload\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\"
    "\x1b[2J\x1b[31m: start one\x1b[0m"
    "\x9d8;;http://evil.example\x9c"  # 8-bit OSC
    "\x1bc\x1b(0\x07\x08\x00 (see `talk start`)"
)


def assert_printable(text: str) -> None:
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), repr(text)
    for junk in ("owned title", "ZWNob", "544e", "payload", "evil.example", "[2J", "]0;"):
        assert junk not in text, (junk, text)


def test_a_servers_error_text_reaches_the_terminal_without_control_sequences(
    tmp_path: Path,
) -> None:
    laptop = Workspace(tmp_path / "laptop")
    answer = json.dumps({"error": HOSTILE}).encode()
    with Receiver(path="/", default=Reply(status=409, body=answer)) as server:
        url = server.url.rstrip("/")
        refused = laptop.cli("note", "a note", server=url, token="lbt_x")
        message = assert_refused(refused)
        assert_printable(refused.stdout + refused.stderr)
        assert "no talk is open: start one (see `talk start`)" in message

        # A queued draft refused when it is finally sent: the warning and the file
        # that keeps it are clean too.
        server.default = Reply(status=503, body=b"down")
        queued = laptop.cli("note", "queued", server=url, token="lbt_x")
        assert queued.returncode == 0 and "queued" in queued.stdout
        server.default = Reply(status=409, body=answer)
        sync = laptop.cli("sync", server=url, token="lbt_x")
        assert_printable(sync.stdout + sync.stderr)
        assert "no talk is open" in sync.stderr
        rejected = wait_for(lambda: list(laptop.state_dir.glob("rejected-*.jsonl")))
        assert_printable(json.loads(rejected[0].read_text().splitlines()[0])["error"])


# -- a running service ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_running_service_follows_a_rotation_and_waits_for_a_key_it_lacks(
    ws: Workspace, receiver: Receiver
) -> None:
    from servers import Service

    open_conference(ws)
    sub = add_hook(ws, receiver.url)

    def texts() -> list[str]:
        return [m["data"]["data"]["text"] for m in verified(sub["secret"], receiver)]

    # Retries every second, far more of them than the test needs: never dead-lettered.
    retries = ",".join(["1s"] * 60)
    with Service(ws, args=("--no-feeds", "--retry-schedule", retries)) as serve:
        ws.ok("note", "one")
        wait_for(lambda: texts() == ["one"], what=lambda: f"note one; {serve.stderr}")

        # Rotated by another process while `serve` runs: it reads the new key by its id.
        ws.ok("secret-key", "rotate")
        ws.ok("note", "two")
        wait_for(lambda: texts() == ["one", "two"], what=lambda: f"note two; {serve.stderr}")

        # Re-encrypted elsewhere under a key `serve` does not hold (LIVEBLOG_SECRET_KEY
        # in the operator's shell only): attempts fail, naming the key file, and stay queued.
        elsewhere = ws.ok("secret-key", "generate")[0]
        current = key_file(ws).read_text().strip()
        both = {"LIVEBLOG_SECRET_KEY": f"{elsewhere},{current}"}
        assert cli_env(ws, both, "secret-key", "rotate").returncode == 0
        ws.ok("note", "three")

        def failing() -> bool:
            rows = query(
                ws.db,
                "SELECT status, last_error FROM webhook_deliveries ORDER BY id DESC LIMIT 1",
            )
            return bool(rows) and rows[0][0] == "pending" and "events.db.key" in str(rows[0][1])

        wait_for(failing, what="a failed attempt naming the key file")
        assert texts() == ["one", "two"]
        # The key put where `serve` looks: it reads it at the next attempt.
        os.replace(_private_file(ws.root / "right.key", elsewhere + "\n"), key_file(ws))
        wait_for(lambda: texts() == ["one", "two", "three"], what=lambda: serve.stderr)
        serve.stop_cleanly()
    assert "Traceback" not in serve.stderr


def _private_file(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return path


# A rotation killed at each step (os._exit: no clean-up, no rollback by Python), injected
# where a real crash cannot be produced on demand.
CRASH_DURING_REENCRYPTION = "Keyring.seal"  # the new key in the file, nothing committed
CRASH_BEFORE_DROPPING_THE_OLD_KEY = "Keyring.replace_file#2"  # committed, old key kept


@pytest.mark.parametrize("crash_at", [CRASH_DURING_REENCRYPTION, CRASH_BEFORE_DROPPING_THE_OLD_KEY])
def test_a_rotation_killed_at_any_step_loses_no_secret(
    ws: Workspace, receiver: Receiver, crash_at: str
) -> None:
    open_conference(ws)
    sub = add_hook(ws, receiver.url)
    before = stored_secrets(ws)[sub["id"]]
    method, _, nth = crash_at.partition("#")
    code = (
        "import os, sys\n"
        "from liveblog.webhooks import secretkey\n"
        "from liveblog.cli.main import main\n"
        f"name, nth = {method.split('.')[1]!r}, {int(nth or 1)}\n"
        "original, calls = getattr(secretkey.Keyring, name), []\n"
        "def crashing(self, *args):\n"
        "    calls.append(1)\n"
        "    if len(calls) == nth:\n"
        "        os._exit(9)\n"
        "    return original(self, *args)\n"
        "setattr(secretkey.Keyring, name, crashing)\n"
        "sys.argv = ['liveblog', 'secret-key', 'rotate']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=ws.env(),
        cwd=ws.root,
        timeout=CLI_SECONDS,
    )
    assert done.returncode == 9, (done.stdout, done.stderr)
    assert len(key_file(ws).read_text().splitlines()) == 2  # both keys kept
    assert stat.S_IMODE(key_file(ws).stat().st_mode) == 0o600
    after = stored_secrets(ws)[sub["id"]]
    if crash_at == CRASH_DURING_REENCRYPTION:
        assert after == before  # rolled back
    else:
        assert after != before  # committed under the new key

    ws.ok("note", "after the crash")
    assert run_once(ws).returncode == 0
    assert [m["data"]["data"]["text"] for m in verified(sub["secret"], receiver)] == [
        "after the crash"
    ]
    # Rotating again finishes the job: one key left, and it opens the secret.
    ws.ok("secret-key", "rotate")
    assert len(key_file(ws).read_text().splitlines()) == 1
    ws.ok("note", "and after the next rotation")
    assert run_once(ws).returncode == 0
    assert len(verified(sub["secret"], receiver)) == 2
