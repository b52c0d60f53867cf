"""Waking WatchEvents streams: PostgreSQL LISTEN on the outbox's channel, with a poll as the fallback.

A transaction that appends partners' events NOTIFYs network.store.events.EVENTS_CHANNEL with their ids, comma
separated (delivered on commit). One listener thread per server wakes that partner's open streams on the server's event
loop. A stream never depends on the wake-up for correctness: it reads the table after every wake-up and at least
every poll interval, so a lost notification (listener reconnecting, another process's server) only delays.
"""

from __future__ import annotations

import asyncio
import logging
import select
import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Engine

from network.outage import database_failure, describe
from network.store.events import EVENTS_CHANNEL

log = logging.getLogger(__name__)


class EventWakeups:
    """Per-partner wake-ups for the streams open on this server's event loop."""

    def __init__(self, engine: Engine, *, listen: bool = True):
        self._engine = engine
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.listening = threading.Event()
        if listen:
            threading.Thread(target=self._listen, daemon=True, name="event-listener").start()

    def close(self) -> None:
        self._stop.set()

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

    def _listen(self) -> None:
        lost = False  # said once per lost connection, not once per reconnection attempt (a database outage)
        while not self._stop.is_set():
            raw = None
            try:
                raw = self._engine.raw_connection()
                driver = raw.driver_connection
                driver.set_session(autocommit=True)
                with driver.cursor() as cursor:
                    cursor.execute(f"LISTEN {EVENTS_CHANNEL}")
                self.listening.set()
                if lost:
                    log.info("event listener listening again")
                    lost = False
                self._wake_threadsafe(None)  # anything committed while not listening is read now
                while not self._stop.is_set():
                    if select.select([driver], [], [], 1.0)[0]:
                        driver.poll()
                        if driver.notifies:
                            payloads = [n.payload for n in driver.notifies]
                            driver.notifies.clear()
                            # "p1,p2,...": those partners; an empty payload (too many to name): everyone
                            self._wake_threadsafe(None if "" in payloads else
                                                  {p for payload in payloads for p in payload.split(",")})
            except Exception as exc:  # noqa: BLE001 - a lost listener means: the streams poll until it is back
                if not lost:  # a database error in one line (network.outage.describe); anything else with its trace
                    failure = database_failure(exc)
                    log.warning("event listener lost its connection (%s); WatchEvents streams poll meanwhile",
                                describe(failure or exc), exc_info=failure is None)
                    lost = True
            finally:
                self.listening.clear()
                if raw is not None:
                    try:
                        raw.invalidate()
                    except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
                        pass
            self._stop.wait(1.0)


__all__ = ["EventWakeups"]
