"""Group commit for unary earns: concurrent Earn calls share one database transaction.

Concurrent requests are grouped into one transaction where latency allows (docs/architecture.md, "An earn's path").
Each call (a coroutine on the server's event loop) awaits the batch it joined; one writer thread writes batches and
wakes each batch's callers with one callback on their loop. A batch holds whatever queued while the previous one was
being written (up to `max_items`); when the previous batch held more than one call (the server is busy), the writer
also lingers up to `linger_seconds` for more, so a busy server writes fewer, larger commits through the same
set-based path as BatchEarn, while a lone call on a quiet server pays no extra wait. Every item keeps its own
idempotency key and its own outcome; a refused item writes nothing. A database failure fails the whole batch with a
retryable status (nothing committed); a call whose commit has not ended within its timeout gets UNAVAILABLE
(retryable: the same request_id returns the stored answer if the commit went through after all).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import grpc
from sqlalchemy import Engine

from network.store.earn import AutocommitConnection
from network.errors import DomainError
from network.outage import database_failure

log = logging.getLogger(__name__)

Post = Callable[[Any, Sequence[Any]], list]  # (pooled connection in autocommit mode, payloads) -> outcomes


@dataclass
class _Entry:
    partner_id: str
    request_id: str
    payload: Any
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


def _settle(results: list[tuple[asyncio.Future, Any, bool]]) -> None:
    """On the callers' loop: hand each waiting call its outcome (a call that timed out is gone already)."""
    for future, value, failed in results:
        if not future.done():
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)


class GroupCommit:
    def __init__(self, engine: Engine, post: Post, *, max_items: int = 200, writers: int = 1,
                 linger_seconds: float = 0.002):
        """One writer by default: measured, a second writer only split the commits (more of them, each smaller)."""
        self._engine = engine
        self._post = post
        self._max_items = max_items
        self._linger = linger_seconds
        self._queue: queue.Queue[_Entry | None] = queue.Queue()
        self._writers = [threading.Thread(target=self._run, daemon=True, name=f"group-commit-{i}")
                         for i in range(writers)]
        for writer in self._writers:
            writer.start()

    async def submit(self, partner_id: str, request_id: str, payload: Any, timeout: float | None = 30.0):
        loop = asyncio.get_running_loop()
        entry = _Entry(partner_id, request_id, payload, loop.create_future(), loop)
        self._queue.put(entry)
        try:
            async with asyncio.timeout(timeout):  # not wait_for: that wraps the future in a task of its own per call
                return await entry.future
        except TimeoutError:  # the writer may still commit it: a retry with the same key replays it then
            raise DomainError(grpc.StatusCode.UNAVAILABLE, "COMMIT_TIMEOUT",
                              f"the ledger did not commit within {timeout:g} s: retry with the same request_id") from None

    def close(self) -> None:
        for _ in self._writers:
            self._queue.put(None)

    def _run(self) -> None:
        connection = AutocommitConnection(self._engine)  # held by this writer for its lifetime
        busy = False  # did the previous batch hold more than one call?
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                until = time.monotonic() + (self._linger if busy else 0.0)
                while len(batch) < self._max_items:
                    left = until - time.monotonic()
                    try:
                        entry = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if entry is None:
                        self._queue.put(None)
                        break
                    batch.append(entry)
                busy = len(batch) > 1
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
            if database_failure(exc) is None:  # an outage is logged once, by the interceptor
                log.warning("group commit of %d earns failed: %s", len(batch), exc.__class__.__name__, exc_info=True)
            self._wake([(entry, exc, True) for entry in batch])
            return
        answers = dict(zip((id(e) for e in entries), outcomes))
        self._wake([(entry, answers[id(entry)], False) for entry in entries] +
                   [(follower, ("duplicate-in-batch", answers[id(leader)]), False) for follower, leader in followers])

    @staticmethod
    def _wake(results: list[tuple[_Entry, Any, bool]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for entry, value, failed in results:
            by_loop.setdefault(entry.loop, []).append((entry.future, value, failed))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, settled)
            except RuntimeError:  # the loop has closed: the server is gone, and its calls with it
                pass
