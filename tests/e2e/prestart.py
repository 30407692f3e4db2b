"""A pre-started interpreter for the e2e tests: `python bot.py` with its imports done.

Nearly all of a bot start's 3 s are imports (aiogram builds its pydantic schemas at
import). This server imports what bot.py imports once, then forks a child per start:
each child is a process of its own (pid, signals, sockets, the DATA_DIR lock, exit code)
that takes the test's environment, working directory and log file and runs bot.py as
`__main__`, as `python bot.py` would. What only a fresh interpreter does (reading
PYTHON* variables, bot.py's own imports) is left to tests that start the real
interpreter (tests/e2e/test_startup.py, and any start whose PYTHON* variables differ).

    python -u -m tests.e2e.prestart SOCKET

One request per connection, a JSON line: {"script", "argv", "env", "cwd", "log"}; the
answer is "pid N", then "exit CODE" when the child ends (-N: killed by signal N). The
server ends, killing children left, when its standard input closes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import runpy
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

PRELOAD = ("bot", "pypdf", "charset_normalizer", "mutagen")  # the last three: lazy in bot.py
STDIN = 0
POLL = 0.01  # seconds between looks for children that ended


def exit_code(status: object) -> int:
    """What the interpreter makes of SystemExit(status)."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status
    print(status, file=sys.stderr)
    return 1


def run_child(request: dict[str, Any]) -> None:
    """In the forked child (the server's sockets closed): become `python <script> <argv>`
    with stdin from /dev/null and stdout and stderr to the log; never returns."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        script = str(Path(request["cwd"], request["script"]))
        sys.argv = [script, *request["argv"]]
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as stop:
            code = exit_code(stop.code)
        except BaseException:  # printed as the interpreter would
            sys.excepthook(*sys.exc_info())
        atexit._run_exitfuncs()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(STDIN, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    print("ready", flush=True)
    try:
        while True:
            for key, _ in selector.select(POLL):
                if key.fileobj == STDIN:
                    if not os.read(STDIN, 4096):
                        return  # the test session is over
                    continue
                connection, _ = listener.accept()
                with connection.makefile("rb") as reader:
                    request = json.loads(reader.readline())
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    listener.close()
                    for other in (connection, *children.values()):
                        other.close()
                    run_child(request)
                children[pid] = connection
                connection.sendall(f"pid {pid}\n".encode())
            reap(children)
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        listener.close()
        Path(path).unlink(missing_ok=True)


def reap(children: dict[int, socket.socket]) -> None:
    """Tell each ended child's requester how it ended."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        connection = children.pop(pid, None)
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.sendall(f"exit {code}\n".encode())
            connection.close()


# The test side ----------------------------------------------------------------------------


def interpreter_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The variables a fresh interpreter reads before any code runs."""
    return {key: value for key, value in env.items() if key.startswith("PYTHON")}


class ForkedProcess:
    """A child of the server, driven like asyncio's Process (pid, returncode, signals)."""

    def __init__(self, pid: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.pid = pid
        self.returncode: int | None = None
        self._writer = writer
        self._ended = asyncio.ensure_future(self._exit_of(reader))

    async def _exit_of(self, reader: asyncio.StreamReader) -> int:
        line = (await reader.readline()).decode().split()
        self._writer.close()
        if len(line) != 2 or line[0] != "exit":
            raise RuntimeError(f"the pre-started interpreter went away ({line})")
        self.returncode = int(line[1])
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        return await asyncio.shield(self._ended)


class PrestartServer:
    """The server for one test session (one per xdist worker)."""

    def __init__(self, root: Path, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen(
            [sys.executable, "-u", "-m", "tests.e2e.prestart", str(socket_path)],
            cwd=root,
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        out: IO[bytes] | None = self._process.stdout
        assert out is not None
        if out.readline().strip() != b"ready":
            self.close()
            raise RuntimeError("the pre-started interpreter did not start")

    def serves(self, env: Mapping[str, str]) -> bool:
        """Whether a child behaves as a fresh interpreter with `env` would."""
        return interpreter_settings(env) == interpreter_settings(self.env)

    async def start(
        self, script: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, log: Path
    ) -> ForkedProcess:
        reader, writer = await asyncio.open_unix_connection(str(self.socket_path))
        request = {"script": script, "argv": list(argv), "env": dict(env), "cwd": str(cwd)}
        writer.write(json.dumps({**request, "log": str(log)}).encode() + b"\n")
        await writer.drain()
        answer = (await reader.readline()).decode().split()
        if len(answer) != 2 or answer[0] != "pid":
            writer.close()
            raise RuntimeError(f"the pre-started interpreter refused the start ({answer})")
        return ForkedProcess(int(answer[1]), reader, writer)

    def close(self) -> None:
        """Ends the server (it kills the children left) and waits for it."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


if __name__ == "__main__":
    serve(sys.argv[1])
