"""PostgreSQL LISTEN on one channel in a thread of its own: a callback on every notification, and whenever the
listener (re)connects or loses its connection (anything may have changed meanwhile).

A listener holds its connection for as long as it listens, so the connection is its own, outside the engine's pool
(taken from the pool and detached at once): a server runs four listeners or more (contracts, programme, keys,
events, the webhook dispatcher), and had they kept pooled connections, the pool left to requests would be that much
smaller, and gone altogether where the pool is small (`coalition up`'s) or several servers share one engine (the
test suite's, where it ran out)."""

from __future__ import annotations

import logging
import select
import threading
import time
from typing import Callable

from sqlalchemy import Engine

from network.outage import database_failure, describe

log = logging.getLogger(__name__)


class ChannelListener:
    """Calls `changed()` on every NOTIFY on `channel`, and when the listener connects or loses its connection.
    `connected` is set while it listens: until then a cache must not trust what it holds."""

    def __init__(self, engine: Engine, channel: str, changed: Callable[[], None], *, name: str = "listener",
                 notified: Callable[[list[str]], None] | None = None, what_meanwhile: str = "bypassing the cache"):
        """`notified(payloads)`, when given, is called for notifications instead of `changed()` (which is still
        called on connecting and on losing the connection)."""
        self._engine = engine
        self._channel = channel
        self._changed = changed
        self._notified = notified
        self._meanwhile = what_meanwhile
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        lost = False  # said once per lost connection, not once per reconnection attempt (a database outage)
        while not self._stop.is_set():
            raw = None
            try:
                raw = self._engine.raw_connection()
                raw.detach()  # its own connection from now on: not counted in the pool, closed for real below
                driver = raw.dbapi_connection
                driver.set_session(autocommit=True)
                with driver.cursor() as cursor:
                    cursor.execute(f"LISTEN {self._channel}")
                self._changed()
                self.connected.set()
                if lost:
                    log.info("listener on %s listening again", self._channel)
                    lost = False
                while not self._stop.is_set():
                    if select.select([driver], [], [], 1.0)[0]:
                        driver.poll()
                        if driver.notifies:
                            payloads = [n.payload for n in driver.notifies]
                            driver.notifies.clear()
                            if self._notified is not None:
                                self._notified(payloads)
                            else:
                                self._changed()
            except Exception as exc:  # noqa: BLE001 - a lost listener means: the cache is bypassed until it is back
                if not lost:
                    failure = database_failure(exc)
                    log.warning("listener on %s lost its connection (%s); %s until it is back",
                                self._channel, describe(failure or exc), self._meanwhile, exc_info=failure is None)
                    lost = True
            finally:
                self.connected.clear()
                self._changed()
                if raw is not None:
                    try:  # closed right here, no rollback (it is in autocommit; it may be gone): never pooled again
                        if raw.is_detached:
                            raw.dbapi_connection.close()
                        else:
                            raw.invalidate()
                    except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
                        pass
            self._stop.wait(1.0)


class NotifiedCache:
    """The invalidation of a cache reloaded at most every `ttl_seconds`, at once after a NOTIFY on `channel`
    (`follow_changes`, which the server calls; `close` stops it), and on every lookup while that listener is not
    connected. A subclass reloads under `_lock` when `_stale()` and then calls `_loaded()`."""

    def __init__(self, engine: Engine, ttl_seconds: float, channel: str, listener_name: str):
        self._engine = engine
        self._ttl = ttl_seconds
        self._channel = channel
        self._listener_name = listener_name
        self._lock = threading.Lock()
        self._loaded_at = float("-inf")
        self._listener: ChannelListener | None = None

    def follow_changes(self) -> None:
        if self._listener is None:
            self._listener = ChannelListener(self._engine, self._channel, self.invalidate, name=self._listener_name)

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = float("-inf")

    def _stale(self, force: bool = False) -> bool:
        """Whether to reload now (call it holding `_lock`)."""
        listener_down = self._listener is not None and not self._listener.connected.is_set()
        return force or listener_down or time.monotonic() - self._loaded_at > self._ttl

    def _loaded(self) -> None:
        self._loaded_at = time.monotonic()
