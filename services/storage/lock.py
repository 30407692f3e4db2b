"""One bot process per DATA_DIR: an exclusive `flock` on `DATA_DIR/.lock`, held for the
process's life.

Two processes on one folder (an overlapping redeploy on Amvera's /data, a second start
by hand) would both append to the journal while each trusts its own memory: the last
writer wins and paid days go missing. The kernel releases the lock when the process
ends in any way, `kill -9` included, so a stale lock file never blocks a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_FILE = ".lock"
RETRY_EVERY = 0.2  # seconds between tries while waiting for the other process


class DataDirBusyError(Exception):
    """Another bot process holds DATA_DIR; the message names it and the fix, in one line."""


class DataDirLock:
    """The exclusive lock on a DATA_DIR; `acquire` once at start-up, `release` at exit."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, waiting up to `wait` seconds for a process that holds it;
        DataDirBusyError if it is still held then."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        told = False
        try:
            while not _try_lock(fd):
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise DataDirBusyError(_busy_text(self.path.parent, holder, wait))
                if not told:
                    logger.warning(
                        "DATA_DIR %s is in use by another bot process (%s); waiting up to "
                        "%.0f s for it to stop",
                        self.path.parent,
                        holder,
                        wait,
                    )
                    told = True
                time.sleep(RETRY_EVERY)  # before the event loop starts: nothing else runs
        except BaseException:
            os.close(fd)
            raise
        with contextlib.suppress(OSError):  # who holds it, for the next one's message;
            os.ftruncate(fd, 0)  # a full disk must not stop the start
            os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        self._fd = fd
        if told:
            logger.info("DATA_DIR %s is free now; starting", self.path.parent)

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(fd: int) -> str:
    """What the holder wrote into the lock file ("pid 123"), or a plain description."""
    with contextlib.suppress(OSError):
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if text:
            return text
    return "pid unknown"


def _busy_text(data_dir: Path, holder: str, wait: float) -> str:
    waited = f" (waited {wait:.0f} s)" if wait > 0 else ""
    return (
        f"Storage error: DATA_DIR {data_dir} is in use by another bot process ({holder})"
        f"{waited}; stop it first, or set DATA_LOCK_WAIT to the seconds a new process may "
        "wait for the old one to stop (a rolling redeploy). Nothing was changed."
    )
