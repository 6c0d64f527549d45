"""`python -m liveblog ARGS` as a process of its own, without paying for the interpreter's
start-up each time.

Most of a CLI test's time was Python starting and importing liveblog (~0.35 s quiet, a
second or more on a loaded machine), repeated for every command. A *launcher* is an
interpreter that imported liveblog once and then forks one child per command. The child
is still a process of its own: its own argv, environment, cwd, umask, stdin, stdout and
stderr files, database connections and exit status. It runs `liveblog/__main__.py`
through runpy as `-m` does, and exits as the interpreter does (non-daemon threads
joined, atexit handlers, flushing; only the teardown of modules is skipped), so a
traceback or a `sys.exit` status comes out as from `python -m liveblog`. The launcher
runs nothing but imports before forking, and has no threads.

What a child does not prove is a fresh start-up (imports, interpreter options): that is
`fresh=True` (a real `python -m liveblog`), kept where a test is about the real thing:
test_cli_subprocess's session end to end and exit statuses, test_service's serve and
run exiting on signals, and every test that starts `python -m liveblog` itself (log
--follow, setpriv, umask, the import-cost checks, `liveblog export | liveblog import`).
LIVEBLOG_TEST_FRESH_CLI=1 (`make test-fresh`) makes every command and service fresh, to
check the suite does not depend on the launcher. A command whose environment changes
how the interpreter starts (PYTHON*, locale variables) is also run fresh.

Long-running commands (`serve`, `run`) are forked the same way (`spawn_liveblog`): a
ForkedProcess is used like subprocess.Popen; its launcher is its parent, reports its exit
status, and serves other commands again once it has exited.

Several threads may run commands at once (concurrency tests): each call takes an idle
launcher from a pool, or starts one, so commands still run in parallel processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

LIVEBLOG = [sys.executable, "-m", "liveblog"]
FRESH_ENV = "LIVEBLOG_TEST_FRESH_CLI"
# The interpreter's start-up reads these: a command that sets them differently from the
# launcher's environment gets a fresh interpreter.
STARTUP_PREFIXES = ("PYTHON", "LC_", "LANG")
START_SECONDS = 120.0  # for a launcher to start (imports) and fork, on a loaded machine

# The launcher: one request per line (JSON) on the pipe named by argv[1], answers on
# argv[2]: the child's pid, then its exit status (as subprocess reports it: -N for a
# signal).
LAUNCHER = r"""
import atexit, faulthandler, gc, importlib, json, os, pkgutil, runpy, signal, sys
import threading, time, traceback
import liveblog

# What a command's start-up pays for, done once: every liveblog module (commands
# import their store, feeds, webhooks... lazily), so a child imports nothing.
for module in pkgutil.walk_packages(liveblog.__path__, "liveblog."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
# fork() copies only the calling thread: a thread started by an import would be missing
# (with any lock it held) in every child.
assert threading.active_count() == 1, threading.enumerate()

requests = os.fdopen(int(sys.argv[1]), "r")
answers = os.fdopen(int(sys.argv[2]), "w")

def child(request):
    requests.close()
    answers.close()
    os.chdir(request["cwd"])
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    if hasattr(time, "tzset"):
        time.tzset()
    for fd, name, flags in (
        (0, "in", os.O_RDONLY),
        (1, "out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, "err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        if fd == 2 and request["err"] == request["out"]:
            os.dup2(1, 2)  # as stderr=subprocess.STDOUT: one file, one offset
            continue
        opened = os.open(request[name], flags, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    if request["stack_on_usr1"]:
        # A command that overruns its timeout shows where it was stuck (forkcli sends
        # SIGUSR1). Not for services: their signals are theirs.
        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    sys.argv = [request["main"], *request["args"]]
    # As `python -m liveblog`: __main__.py calls main(), which exits through SystemExit.
    runpy.run_module("liveblog", run_name="__main__", alter_sys=True)

def exit_status(stop):
    # What the interpreter makes of SystemExit's argument.
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1

def leave(code, interrupted):
    # The interpreter's exit, but for tearing down every module (most of a second for
    # the ~800 modules imported here, and nothing a command can observe): wait for
    # non-daemon threads, run atexit handlers, flush, exit.
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if interrupted:  # an uncaught KeyboardInterrupt: the interpreter dies of SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)

# Objects made so far are never collected: the garbage collector would otherwise touch
# (and so copy) the parent's pages in every child.
gc.freeze()

for line in requests:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code, interrupted = 0, False
        try:
            child(request)
        except SystemExit as stop:
            code = exit_status(stop)
        except BaseException as uncaught:
            # An uncaught exception: a traceback and status 1, as the interpreter does.
            traceback.print_exc()
            code, interrupted = 1, isinstance(uncaught, KeyboardInterrupt)
        leave(code, interrupted)
    answers.write(f"{pid}\n")
    answers.flush()
    _, status = os.waitpid(pid, 0)
    answers.write(f"{os.waitstatus_to_exitcode(status)}\n")
    answers.flush()
"""


class Overran(subprocess.TimeoutExpired):
    """subprocess.run's timeout, saying what the command wrote (its stack among it)."""

    def __str__(self) -> str:
        return f"{super().__str__()}; its stderr: {self.stderr}"


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


class Launcher:
    """One launcher process; one command at a time."""

    def __init__(self) -> None:
        self.env = launcher_env()
        request_read, self._request = os.pipe()
        self._answer, answer_write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, str(request_read), str(answer_write)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=self.env,
                pass_fds=(request_read, answer_write),
            )
        finally:
            os.close(request_read)
            os.close(answer_write)
        self._buffer = b""  # read from the answers pipe, not yet a whole line
        self.timeout = 0.0  # the running command's

    def run(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        input: str | None,
        timeout: float,
        umask: int | None,
    ) -> Done:
        with tempfile.TemporaryDirectory(prefix="liveblog-cli-") as scratch:
            files = {name: Path(scratch, name) for name in ("in", "out", "err")}
            files["in"].write_text(input or "", encoding="utf-8")
            request = {
                "main": str(Path(__file__).parent.parent / "liveblog" / "__main__.py"),
                "args": argv,
                "env": env,
                "cwd": str(cwd),
                "umask": current_umask() if umask is None else umask,
                "stack_on_usr1": True,
                **{name: str(path) for name, path in files.items()},
            }
            self.timeout = timeout
            os.write(self._request, (json.dumps(request) + "\n").encode())
            deadline = time.monotonic() + timeout
            pid = int(self._line(deadline, argv))
            try:
                status = int(self._line(deadline, argv))
            except subprocess.TimeoutExpired as late:
                # Where it was stuck (its stack on stderr), then killed as subprocess.run
                # kills a process that overruns.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGUSR1)
                shown = time.monotonic() + 5.0
                while time.monotonic() < shown and "most recent call first" not in (
                    files["err"].read_text(encoding="utf-8", errors="replace")
                ):
                    time.sleep(0.05)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self._line(time.monotonic() + 30, argv)
                late.stdout = files["out"].read_text(encoding="utf-8", errors="replace")
                late.stderr = files["err"].read_text(encoding="utf-8", errors="replace")
                raise Overran(late.cmd, timeout, late.stdout, late.stderr) from None
            # As subprocess.run(text=True) reads them: UTF-8, universal newlines.
            return Done(
                status,
                files["out"].read_text(encoding="utf-8"),
                files["err"].read_text(encoding="utf-8"),
            )

    def spawn(
        self, argv: list[str], env: dict[str, str], cwd: Path, stdout: Path, stderr: Path
    ) -> int:
        """Start a long-running `liveblog ARGV` (serve, run); returns its pid. Its exit
        status is this launcher's next answer (`answer`)."""
        request = {
            "main": str(Path(__file__).parent.parent / "liveblog" / "__main__.py"),
            "args": argv,
            "env": env,
            "cwd": str(cwd),
            "umask": current_umask(),
            "stack_on_usr1": False,
            "in": os.devnull,
            "out": str(stdout),
            "err": str(stderr),
        }
        self.timeout = START_SECONDS
        os.write(self._request, (json.dumps(request) + "\n").encode())
        return int(self._line(time.monotonic() + START_SECONDS, argv))

    def answer(self, timeout: float | None, argv: list[str]) -> int | None:
        """The exit status, if it comes within `timeout` seconds (None: wait for it)."""
        self.timeout = timeout if timeout is not None else 0.0
        deadline = time.monotonic() + (timeout if timeout is not None else 10**9)
        try:
            return int(self._line(deadline, argv))
        except subprocess.TimeoutExpired:
            return None

    def _line(self, deadline: float, argv: list[str]) -> str:
        # Our own buffer over the raw pipe: a buffered reader may hold both answers (pid
        # and status) after the first readline, and select() would then wait for
        # nothing.
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._answer], [], [], max(left, 0))
            if not ready:
                raise subprocess.TimeoutExpired([*LIVEBLOG, *argv], self.timeout)
            chunk = os.read(self._answer, 4096)
            if not chunk:
                raise RuntimeError(f"the CLI launcher died (exit {self.proc.wait()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def close(self) -> None:
        os.close(self._request)  # end of requests: the launcher's loop ends
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._answer)


def launcher_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LIVEBLOG_")}


def current_umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


class ForkedProcess:
    """A long-running `liveblog` command forked by a launcher, used like subprocess.Popen
    (pid, poll, wait, send_signal, terminate, kill, returncode). The launcher is its
    parent and reports its exit status; it goes back to the pool once that is read."""

    def __init__(self, pool: Pool, launcher: Launcher, pid: int, argv: list[str]) -> None:
        self._pool, self._launcher, self.pid, self.args = pool, launcher, pid, argv
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self._collect(self._launcher.answer(0, self.args))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            status = self._launcher.answer(timeout, self.args)
            if status is None:
                raise subprocess.TimeoutExpired([*LIVEBLOG, *self.args], timeout or 0)
            self._collect(status)
        assert self.returncode is not None
        return self.returncode

    def _collect(self, status: int | None) -> None:
        if status is not None:
            self.returncode = status
            self._pool.release(self._launcher, self)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # as Popen: never signal a pid that may be reused
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Pool:
    """Idle launchers of this test process, started on demand."""

    def __init__(self) -> None:
        self._idle: list[Launcher] = []
        self._all: list[Launcher] = []
        self._running: list[ForkedProcess] = []
        self._lock = threading.Lock()

    def run(
        self,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        input: str | None,
        timeout: float,
        umask: int | None,
    ) -> Done:
        launcher = self._take()
        try:
            done = launcher.run(argv, env, cwd, input, timeout, umask)
        except BaseException:
            # A launcher interrupted mid-command is not reused.
            with self._lock:
                self._all.remove(launcher)
            launcher.close()
            raise
        self.release(launcher)
        return done

    def _take(self) -> Launcher:
        with self._lock:
            launcher = self._idle.pop() if self._idle else None
        if launcher is None:
            launcher = Launcher()
            with self._lock:
                self._all.append(launcher)
        return launcher

    def release(self, launcher: Launcher, forked: ForkedProcess | None = None) -> None:
        with self._lock:
            if launcher in self._all:
                self._idle.append(launcher)
            if forked in self._running:
                self._running.remove(forked)

    def spawn(
        self, argv: list[str], env: dict[str, str], cwd: Path, stdout: Path, stderr: Path
    ) -> ForkedProcess:
        launcher = self._take()
        try:
            pid = launcher.spawn(argv, env, cwd, stdout, stderr)
        except BaseException:
            with self._lock:
                self._all.remove(launcher)
            launcher.close()
            raise
        forked = ForkedProcess(self, launcher, pid, argv)
        with self._lock:
            self._running.append(forked)
        return forked

    def close(self) -> None:
        with self._lock:
            running, self._running = self._running, []
        for forked in running:  # a service a test left running: no orphan outlives us
            forked.kill()
            forked.wait(timeout=30)
        with self._lock:
            launchers, self._all, self._idle = self._all, [], []
        for launcher in launchers:
            launcher.close()


POOL = Pool()


def needs_fresh(env: dict[str, str]) -> bool:
    if os.environ.get(FRESH_ENV) == "1":
        return True
    ours = launcher_env()
    keys = {k for k in env.keys() | ours.keys() if k.startswith(STARTUP_PREFIXES)}
    return any(env.get(k) != ours.get(k) for k in keys)


def run_liveblog(
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    input: str | None = None,
    timeout: float = 60.0,
    fresh: bool = False,
    umask: int | None = None,
) -> Done:
    """`python -m liveblog ARGV` in a process of its own; raises subprocess.TimeoutExpired
    (the process killed) after `timeout` seconds, as subprocess.run does. `umask`: the
    command's (default: this process's)."""
    if fresh or needs_fresh(env):
        done = subprocess.run(
            [*LIVEBLOG, *argv],
            input=input,
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=timeout,
            umask=-1 if umask is None else umask,
        )
        return Done(done.returncode, done.stdout, done.stderr)
    return POOL.run(argv, env, cwd, input, timeout, umask)


def spawn_liveblog(
    argv: list[str], *, env: dict[str, str], cwd: Path, stdout: Path, stderr: Path
) -> ForkedProcess:
    """A long-running `python -m liveblog ARGV` (serve, run) forked by a launcher, its
    stdin /dev/null and its output in the two files. Callers check `needs_fresh(env)`
    (and their own reasons) first and use subprocess.Popen then."""
    return POOL.spawn(argv, env, cwd, stdout, stderr)
