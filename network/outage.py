"""The ledger database going away, as the network server sees it.

Which failures mean "the database is unavailable": any SQLAlchemy DBAPIError, a psycopg2 error raised outside
SQLAlchemy's wrapping (a pooled connection being opened by Engine.raw_connection), SQLAlchemy's disconnect and
"invalid transaction" errors (a PendingRollbackError after a connection died mid-transaction), found on the
exception or anywhere on its __cause__/__context__ chain. The server answers them UNAVAILABLE with ErrorInfo
DATABASE_UNAVAILABLE (or ABORTED CONFLICT_RETRY for a serialization failure, deadlock or key race), never UNKNOWN
or INTERNAL. Connection-level failures (is_connection_failure) are an outage; any other database error is logged
with its traceback, as a bug would be.

DatabaseOutage is shared by the call path and the health watcher, which pings every WATCH_SECONDS and at once
when a call found a connection broken: the first failed ping of an outage logs one WARNING and turns gRPC health
NOT_SERVING; the calls refused meanwhile are only counted; the first successful ping after it logs one INFO line
(how long, how many calls were answered UNAVAILABLE) and turns health SERVING again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Optional

import psycopg2
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, PendingRollbackError

from network.database import require_migrated

log = logging.getLogger(__name__)
WATCH_SECONDS = 0.5  # the health watcher's ping interval: health follows the database within a second
WAIT_RETRY_MAX_SECONDS = 5.0  # a process waiting for its database tries again at least this often
CONFLICT_PGCODES = ("40001", "40P01", "23505")  # serialization failure, deadlock, unique-key race: retry


def database_failure(exc: BaseException) -> Optional[BaseException]:
    """The database error behind `exc` (itself, or on its cause/context chain), None when there is none."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (DBAPIError, psycopg2.Error, DisconnectionError, PendingRollbackError)):
            return current
        current = current.__cause__ or current.__context__
    return None


def is_conflict(failure: BaseException) -> bool:
    driver = getattr(failure, "orig", None) or failure
    return getattr(driver, "pgcode", None) in CONFLICT_PGCODES


def is_connection_failure(failure: BaseException) -> bool:
    """The database (or the connection to it) is gone, as opposed to a statement the database refused."""
    if is_conflict(failure):
        return False
    if isinstance(failure, (psycopg2.OperationalError, psycopg2.InterfaceError, DisconnectionError,
                            PendingRollbackError)):
        return True
    return isinstance(failure, DBAPIError) and (
        failure.connection_invalidated
        or isinstance(failure.orig, (psycopg2.OperationalError, psycopg2.InterfaceError)))


def describe(failure: BaseException) -> str:
    """"<driver error type>: <its first line>" of the driver's error behind `failure` (itself or on its chain),
    at most 200 characters: no SQL statement, no parameters, no traceback."""
    driver: BaseException = failure
    current: Optional[BaseException] = failure
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.orig is not None:
            driver = current.orig
            break
        if isinstance(current, psycopg2.Error):
            driver = current
            break
        current = current.__cause__ or current.__context__
    lines = [line.strip() for line in str(driver).split("(Background on this error")[0].splitlines() if line.strip()]
    text = f"{type(driver).__name__}: {lines[0]}" if lines else type(driver).__name__
    return text[:200]


class DatabaseOutage:
    """One outage at a time: when it began, how many calls it refused; `on_change(serving)` on each edge.

    A call that finds a connection broken does not declare an outage by itself (after PostgreSQL came back, or
    after its backends were terminated, a connection opened before fails once): it calls `on_broken_connection`
    (the server drops its pooled connections, so the next call opens a fresh one) and wakes the watcher, whose
    ping decides at once."""

    def __init__(self, on_change: Callable[[bool], None] | None = None,
                 on_broken_connection: Callable[[], None] | None = None):
        self._on_change = on_change
        self._on_broken_connection = on_broken_connection
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._since: float | None = None
        self._refused = 0
        self._suspect: BaseException | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def call_failed(self, failure: BaseException) -> None:
        """A call found the database (or its connection) gone; it is answered UNAVAILABLE."""
        with self._lock:
            self._refused += 1
            if self._since is None:
                self._suspect = failure
                self._wake.set()
        log.debug("database connection failure: %s", describe(failure))
        if self._on_broken_connection:
            self._on_broken_connection()

    def wait(self, timeout: float) -> None:
        """For the watcher: until its next ping is due (now, when a call has just failed)."""
        self._wake.wait(timeout)
        self._wake.clear()

    def ping_failed(self) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
            suspect, self._suspect = self._suspect, None
        log.warning("the database is unavailable (%s): answering UNAVAILABLE (DATABASE_UNAVAILABLE) and "
                    "NOT_SERVING until it answers again", describe(suspect) if suspect is not None else "ping failed")
        if self._on_change:
            self._on_change(False)

    def ping_succeeded(self) -> None:
        with self._lock:
            self._suspect = None
            if self._since is None:
                self._refused = 0  # a broken connection, not an outage: the database answers
                return
            lasted, refused = time.monotonic() - self._since, self._refused
            self._since, self._refused = None, 0
        log.info("the database answers again after %.1f s; %d calls were answered UNAVAILABLE meanwhile",
                 lasted, refused)
        if self._on_change:
            self._on_change(True)


def wait_for_database(engine: Engine) -> None:
    """Return once the database answers and its schema is current. While PostgreSQL does not answer, say so once
    and try again (backing off to WAIT_RETRY_MAX_SECONDS): a process started before its database (the network
    server, the settlement worker) comes up with it. A schema not at the newest migration is still refused at once."""
    delay, waiting_since = 0.5, None
    while True:
        try:
            require_migrated(engine)
        except DBAPIError as exc:
            if waiting_since is None:
                waiting_since = time.monotonic()
                log.warning("waiting for the database (%s); retrying until it answers", describe(exc))
            time.sleep(delay)
            delay = min(delay * 2, WAIT_RETRY_MAX_SECONDS)
            continue
        if waiting_since is not None:
            log.info("the database answers again after %.1f s", time.monotonic() - waiting_since)
        return


__all__ = ["DatabaseOutage", "WATCH_SECONDS", "database_failure", "describe", "is_conflict", "is_connection_failure",
           "wait_for_database"]
