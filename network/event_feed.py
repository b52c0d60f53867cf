"""Waking WatchEvents streams: PostgreSQL LISTEN on the outbox's channel, with a poll as the fallback.

A transaction that appends partners' events NOTIFYs network.store.events.EVENTS_CHANNEL with their ids, comma
separated (delivered on commit). One listener thread per server wakes that partner's open streams on the server's event
loop. A stream never depends on the wake-up for correctness: it reads the table after every wake-up and at least
every poll interval, so a lost notification (listener reconnecting, another process's server) only delays.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine

from network.store.events import EVENTS_CHANNEL
from network.store.notify import ChannelListener


class EventWakeups:
    """Per-partner wake-ups for the streams open on this server's event loop."""

    def __init__(self, engine: Engine, *, listen: bool = True):
        self._engine = engine
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        # connecting or losing the connection wakes every stream: anything committed meanwhile is read now (while
        # the listener is down, the streams poll)
        self._listener = ChannelListener(engine, EVENTS_CHANNEL, lambda: self._wake_threadsafe(None),
                                         notified=self._notified, name="event-listener",
                                         what_meanwhile="WatchEvents streams poll") if listen else None

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    @contextmanager
    def subscribe(self, partner_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever `partner_id`'s events may have changed (clear it before each read). On the loop."""
        woken = asyncio.Event()
        with self._lock:
            self._loop = asyncio.get_running_loop()
            self._waiters.setdefault(partner_id, set()).add(woken)
        try:
            yield woken
        finally:
            with self._lock:
                waiters = self._waiters.get(partner_id)
                if waiters is not None:
                    waiters.discard(woken)
                    if not waiters:
                        del self._waiters[partner_id]

    def _wake(self, partner_ids: set[str] | None) -> None:
        """On the loop: wake these partners' streams (None: every stream)."""
        with self._lock:
            targets = [w for p, ws in self._waiters.items() if partner_ids is None or p in partner_ids for w in ws]
        for woken in targets:
            woken.set()

    def _wake_threadsafe(self, partner_ids: set[str] | None) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake, partner_ids)

    def _notified(self, payloads: list[str]) -> None:
        # "p1,p2,...": those partners; an empty payload (too many to name): everyone
        self._wake_threadsafe(None if "" in payloads else {p for payload in payloads for p in payload.split(",")})


__all__ = ["EventWakeups"]
