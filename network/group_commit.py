"""Group commit for unary earns: concurrent Earn calls share one database transaction.

DESIGN.md 4: "group concurrent requests into one transaction where latency allows". Each call waits for the
batch it joined; a batch holds whatever queued while the previous one was being written (up to
`max_items`), so a lone call pays no extra wait and a busy server writes dozens of earns per commit through
the same set-based path as BatchEarn. Every item keeps its own idempotency key and its own outcome; a refused
item writes nothing. A database failure fails the whole batch with a retryable status (nothing committed).
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from sqlalchemy import Engine

from network.earn_commit import AutocommitConnection

log = logging.getLogger(__name__)

Post = Callable[[Any, Sequence[Any]], list]  # (DBAPI connection in autocommit mode, payloads) -> outcomes


@dataclass
class _Entry:
    partner_id: str
    request_id: str
    payload: Any
    future: Future = field(default_factory=Future)


class GroupCommit:
    def __init__(self, engine: Engine, post: Post, *, max_items: int = 200, writers: int = 1):
        self._engine = engine
        self._post = post
        self._max_items = max_items
        self._queue: queue.Queue[_Entry | None] = queue.Queue()
        self._writers = [threading.Thread(target=self._run, daemon=True, name=f"group-commit-{i}")
                         for i in range(writers)]
        for writer in self._writers:
            writer.start()

    def submit(self, partner_id: str, request_id: str, payload: Any, timeout: float | None = 30.0):
        entry = _Entry(partner_id, request_id, payload)
        self._queue.put(entry)
        return entry.future.result(timeout)

    def close(self) -> None:
        for _ in self._writers:
            self._queue.put(None)

    def _run(self) -> None:
        connection = AutocommitConnection(self._engine)  # held by this writer for its lifetime
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < self._max_items:
                    try:
                        entry = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if entry is None:
                        self._queue.put(None)
                        break
                    batch.append(entry)
                self._write(connection, batch)
        finally:
            connection.release()

    def _write(self, connection: AutocommitConnection, batch: list[_Entry]) -> None:
        # the same key twice in one batch (a client retry racing its original) is written once
        unique: dict[tuple[str, str], _Entry] = {}
        followers: list[tuple[_Entry, _Entry]] = []
        for entry in batch:
            key = (entry.partner_id, entry.request_id)
            if key in unique:
                followers.append((entry, unique[key]))
            else:
                unique[key] = entry
        entries = list(unique.values())
        try:
            outcomes = self._post(connection.get(), [e.payload for e in entries])
        except Exception as exc:  # noqa: BLE001 - every waiting call gets the failure; nothing was committed
            connection.discard_if_broken(exc)
            log.warning("group commit of %d earns failed: %s", len(batch), exc.__class__.__name__)
            for entry in batch:
                entry.future.set_exception(exc)
            return
        for entry, outcome in zip(entries, outcomes):
            entry.future.set_result(outcome)
        for follower, leader in followers:
            follower.future.set_result(("duplicate-in-batch", leader.future.result()))
