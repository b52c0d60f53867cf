"""Append-only JSON-lines journals: what a rail remembers across worker restarts."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in directory durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """One JSON object per line, appended and fsynced before append() returns.

    A line without its newline is a write cut short by a crash: it was never acknowledged, so
    records() ignores it and the next append() cuts it off. Writers take locked() around their
    read-decide-append so that two processes on the same directory do not both act.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(f".{path.name}.lock")

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._intact().splitlines() if line.strip()]

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        lines = b"".join(json.dumps(dict(r), sort_keys=True).encode() + b"\n" for r in records)
        if not lines:
            return
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            intact = len(self._intact())
            if os.fstat(fd).st_size != intact:
                os.ftruncate(fd, intact)
            os.lseek(fd, 0, os.SEEK_END)
            view = memoryview(lines)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_directory(self.path.parent)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _intact(self) -> bytes:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return b""
        return data[: data.rfind(b"\n") + 1]
