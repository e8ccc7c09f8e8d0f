"""One ptst process per run directory: an exclusive OS lock (flock) on RUN_DIR/.ptst.lock, with the holder's PID
written inside. A second process is refused at once, naming the PID. The OS drops the lock when its holder exits,
killed or not, so a stale lock file never needs cleaning up: the file stays and marks the directory as ptst's.
Commands that write a run or training directory hold it with `hold_run_dir`."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.paths import LOCK_NAME


class RunLock:
    """`with RunLock(run_dir):` holds the directory for this process (created if missing)."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self._fd: int | None = None
        self._created: list[Path] = []

    def acquire(self) -> RunLock:
        missing = [d for d in (self.run_dir, *self.run_dir.parents) if not d.exists()]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise PtstError(f"{self.run_dir}: in use by another ptst process (PID {holder}); wait for it to "
                            "finish or stop it: two runs in one directory would overwrite each other") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd, self._created = fd, missing
        return self

    def release(self) -> None:
        """Unlock. Directories the lock itself created are removed again when nothing else was written to them
        (a run refused after taking the lock leaves no run directory behind)."""
        if self._fd is None:
            return
        if self._created and [p.name for p in self.run_dir.iterdir()] == [LOCK_NAME]:
            self.path.unlink()
            for d in self._created:
                with contextlib.suppress(OSError):
                    d.rmdir()
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(run_dir: str | os.PathLike) -> int | None:
    """The PID holding RUN_DIR's lock, or None when no process holds it (a killed holder's file is free)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None


def hold_run_dir(path: str | os.PathLike, *, enabled: bool = True):
    """The run directory's lock for this process; only the main process of a multi-process launch (RANK 0) takes
    it, and nothing is taken or created when not `enabled` (dry runs)."""
    if not enabled or os.environ.get("RANK", "0") != "0":
        return contextlib.nullcontext()
    return RunLock(path)
