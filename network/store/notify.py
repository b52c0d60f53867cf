"""PostgreSQL LISTEN: callbacks on the notifications of a channel, and whenever the listening connection
(re)connects or loses its connection (anything may have changed meanwhile).

Every ChannelListener of one engine (a server process runs four or more: contracts, programme, keys, events, and
the webhook dispatcher where it runs) listens on one connection, in one thread: PostgreSQL wakes every backend that
listens in a database on every NOTIFY there, whatever its channels, so each listening connection costs work on every
notifying commit (an earn's commit NOTIFYs the outbox's channel). One per process, not one per channel, is four
times fewer of them. That connection is its own, outside the engine's pool (taken from the pool and detached at
once): held for as long as anything listens, it would otherwise shrink the pool left to requests, or take all of a
small one (`coalition up`'s). The connection is closed when the last listener of its engine closes."""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import Callable

from sqlalchemy import Engine

from network.outage import database_failure, describe

log = logging.getLogger(__name__)


class ChannelListener:
    """Calls `changed()` on every NOTIFY on `channel`, and when the listening connection connects or is lost.
    `connected` is set while it listens: until then a cache must not trust what it holds."""

    def __init__(self, engine: Engine, channel: str, changed: Callable[[], None], *, name: str = "listener",
                 notified: Callable[[list[str]], None] | None = None, what_meanwhile: str = "bypassing the cache"):
        """`notified(payloads)`, when given, is called for notifications instead of `changed()` (which is still
        called on connecting and on losing the connection). `name` names the shared thread of its engine when this
        listener starts it."""
        self.channel = channel
        self._changed = changed
        self._notified = notified
        self._meanwhile = what_meanwhile
        self._lost = False  # said once per lost connection, not once per reconnection attempt (a database outage)
        self.connected = threading.Event()
        self._hub = _Hub.join(engine, self, name)

    def close(self) -> None:
        self._hub.leave(self)

    def _listening(self) -> None:
        self._changed()
        self.connected.set()
        if self._lost:
            log.info("listener on %s listening again", self.channel)
            self._lost = False

    def _deliver(self, payloads: list[str]) -> None:
        if self._notified is not None:
            self._notified(payloads)
        else:
            self._changed()

    def _lost_connection(self, exc: Exception) -> None:
        if not self._lost:
            failure = database_failure(exc)
            log.warning("listener on %s lost its connection (%s); %s until it is back",
                        self.channel, describe(failure or exc), self._meanwhile, exc_info=failure is None)
            self._lost = True

    def _not_listening(self) -> None:
        self.connected.clear()
        self._changed()


class _Hub:
    """The one listening connection and thread of an engine's ChannelListeners (see the module's docstring)."""

    _hubs: dict[int, "_Hub"] = {}
    _hubs_lock = threading.Lock()

    @classmethod
    def join(cls, engine: Engine, listener: ChannelListener, name: str) -> "_Hub":
        with cls._hubs_lock:
            hub = cls._hubs.get(id(engine))
            if hub is None:
                hub = cls._hubs[id(engine)] = cls(engine, name)
            hub._listeners.append(listener)
        hub._wake()
        return hub

    def __init__(self, engine: Engine, name: str):
        self._engine = engine
        self._listeners: list[ChannelListener] = []  # changed under _hubs_lock
        self._done = False  # the last listener left: the thread closes the connection and ends
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._pipe_lock = threading.Lock()  # never a write to the pipe's descriptors once closed (and reused)
        self._pipe_open = True
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def leave(self, listener: ChannelListener) -> None:
        with self._hubs_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)
            if not self._listeners and not self._done:
                self._done = True
                if self._hubs.get(id(self._engine)) is self:
                    del self._hubs[id(self._engine)]
        self._wake()

    def _wake(self) -> None:
        with self._pipe_lock:
            if self._pipe_open:
                try:
                    os.write(self._wake_write, b"x")
                except BlockingIOError:  # the pipe is full of wake-ups already
                    pass

    def _current(self) -> list[ChannelListener]:
        with self._hubs_lock:
            return list(self._listeners)

    def _run(self) -> None:
        try:
            while not self._done:
                self._listen_once()
                deadline = time.monotonic() + 1.0  # a second between reconnection attempts, unless all leave
                while not self._done and time.monotonic() < deadline:
                    self._wait(deadline - time.monotonic())
        finally:
            with self._pipe_lock:
                self._pipe_open = False
                os.close(self._wake_read)
                os.close(self._wake_write)

    def _wait(self, seconds: float, driver=None) -> list:
        ready = select.select([self._wake_read] + ([driver] if driver is not None else []), [], [],
                              max(0.0, seconds))[0]
        if self._wake_read in ready:
            try:
                while os.read(self._wake_read, 512):
                    pass
            except BlockingIOError:
                pass
        return ready

    def _listen_once(self) -> None:
        """Connect, LISTEN, dispatch until the connection fails or every listener has left."""
        raw = None
        listening: set[ChannelListener] = set()
        channels: set[str] = set()
        try:
            raw = self._engine.raw_connection()
            raw.detach()  # its own connection from now on: not counted in the pool, closed for real below
            driver = raw.dbapi_connection
            driver.set_session(autocommit=True)
            while not self._done:
                current = self._current()
                wanted = {listener.channel for listener in current}
                with driver.cursor() as cursor:
                    for channel in sorted(wanted - channels):
                        cursor.execute(f"LISTEN {channel}")
                    for channel in sorted(channels - wanted):
                        cursor.execute(f"UNLISTEN {channel}")
                channels = wanted
                listening &= set(current)
                for listener in current:
                    if listener not in listening:
                        listening.add(listener)
                        listener._listening()
                # A LISTEN's or UNLISTEN's reply may carry notifications that arrived meanwhile: psycopg2 queues
                # them with the reply, and the socket they came on is read. They are dispatched before any wait.
                if driver.notifies or driver in self._wait(1.0, driver):
                    driver.poll()
                    if driver.notifies:
                        payloads: dict[str, list[str]] = {}
                        for notification in driver.notifies:
                            payloads.setdefault(notification.channel, []).append(notification.payload)
                        driver.notifies.clear()
                        for listener in current:
                            if listener in listening and listener.channel in payloads:
                                listener._deliver(payloads[listener.channel])
        except Exception as exc:  # noqa: BLE001 - a lost listener means: the caches are bypassed until it is back
            for listener in self._current():
                listener._lost_connection(exc)
        finally:
            for listener in set(self._current()) | listening:
                listener._not_listening()
            if raw is not None:
                try:  # closed right here, no rollback (it is in autocommit; it may be gone): never pooled again
                    if raw.is_detached:
                        raw.dbapi_connection.close()
                    else:
                        raw.invalidate()
                except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
                    pass


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
