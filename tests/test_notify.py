"""network.store.notify.ChannelListener while its database is gone: the lost connection is said once (one line, no
traceback), not once per reconnection attempt, and the cache is told every time (anything may have changed)."""

from __future__ import annotations

import logging
import threading
import time

import psycopg2

from network.store.notify import ChannelListener


class _GoneEngine:
    """An engine whose database does not answer: every raw_connection() fails like a stopped PostgreSQL."""

    def __init__(self):
        self.attempts = 0

    def raw_connection(self):
        self.attempts += 1
        raise psycopg2.OperationalError("connection to server failed: the database system is shutting down")


def test_a_listener_whose_database_is_down_logs_the_lost_connection_once_without_a_traceback(caplog):
    engine = _GoneEngine()
    changed = threading.Event()
    caplog.set_level(logging.INFO, logger="network.store.notify")
    listener = ChannelListener(engine, "coalition_test", changed.set, name="test-listener")  # type: ignore[arg-type]
    try:
        deadline = time.monotonic() + 30
        while engine.attempts < 3:  # three reconnection attempts, a second apart
            assert time.monotonic() < deadline, "the listener stopped trying"
            time.sleep(0.1)
    finally:
        listener.close()
    records = [r for r in caplog.records if r.name == "network.store.notify"]
    assert [r.levelname for r in records] == ["WARNING"]
    assert records[0].getMessage() == (
        "listener on coalition_test lost its connection (OperationalError: connection to server failed: the "
        "database system is shutting down); bypassing the cache until it is back")
    assert not records[0].exc_info
    assert changed.is_set() and not listener.connected.is_set()
