"""network.store.notify.ChannelListener while its database is gone: the lost connection is said once (one line, no
traceback), not once per reconnection attempt, and the cache is told every time (anything may have changed)."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import psycopg2

from network.store.notify import ChannelListener


class _GoneEngine:
    """An engine whose database does not answer: every raw_connection() fails like a stopped PostgreSQL."""

    def __init__(self):
        self.attempts = 0

    def raw_connection(self):
        self.attempts += 1
        raise psycopg2.OperationalError("connection to server failed: the database system is shutting down")


def _until_none(count) -> None:
    """Waits (up to 30 s) for `count()` to reach 0: a closed listener's connection goes a moment later."""
    deadline = time.monotonic() + 30
    while count() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert count() == 0


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


def test_a_listener_listens_on_a_connection_of_its_own_outside_the_pool_and_closes_it(database_url, engine):
    """A listener holds its connection as long as it listens: taken from the pool, it would shrink the pool left to
    requests for good (a server runs four listeners or more). Its connection is its own: the pool shows it nowhere,
    a one-connection pool still serves, notifications still arrive, and the connection is closed when it stops."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from network.database import make_engine

    app_name = f"listener-{uuid.uuid4().hex[:6]}"
    small = make_engine(str(make_url(database_url).update_query_dict({"application_name": app_name})), pool_size=1)
    notified = threading.Event()
    listener = ChannelListener(small, "coalition_test_own", lambda: None, notified=lambda _p: notified.set(),
                               name="test-listener")

    def listening() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a "
                                     "AND query LIKE 'LISTEN%'"), {"a": app_name}).scalar_one()
    try:
        assert listener.connected.wait(30)
        assert small.pool.checkedout() == 0
        assert listening() == 1
        with small.connect() as conn:  # the pool's one connection (and its one overflow) are the requests'
            conn.execute(text("NOTIFY coalition_test_own, 'x'"))
            conn.commit()
        assert notified.wait(30)
    finally:
        listener.close()
    _until_none(listening)
    small.dispose()


def test_the_listeners_of_one_engine_share_one_connection_and_each_hears_its_own_channel(database_url, engine):
    """PostgreSQL wakes every listening backend of a database on every NOTIFY there: a server's listeners (contracts,
    programme, keys, events) listen on one connection, not one each. Each hears only its channel; one that closes
    stops listening while the others go on; the connection closes with the last."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from network.database import make_engine

    app_name = f"listeners-{uuid.uuid4().hex[:6]}"
    shared = make_engine(str(make_url(database_url).update_query_dict({"application_name": app_name})), pool_size=1)
    heard: dict[str, list[str]] = {"coalition_test_a": [], "coalition_test_b": []}
    arrived = threading.Condition()

    def hear(channel):
        def notified(payloads):
            with arrived:
                heard[channel].extend(payloads)
                arrived.notify_all()
        return notified

    def connections() -> int:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                                {"a": app_name}).scalar_one()

    def notify(channel: str, payload: str) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})
            conn.commit()

    def wait_for(channel: str, payloads: list[str]) -> None:
        with arrived:
            assert arrived.wait_for(lambda: len(heard[channel]) >= len(payloads), 30), heard
        assert heard[channel] == payloads

    listeners = [ChannelListener(shared, channel, lambda: None, notified=hear(channel), name="test-listener")
                 for channel in heard]
    try:
        assert all(listener.connected.wait(30) for listener in listeners)
        assert connections() == 1
        notify("coalition_test_a", "1")
        notify("coalition_test_b", "2")
        wait_for("coalition_test_a", ["1"])
        wait_for("coalition_test_b", ["2"])
        listeners[0].close()
        notify("coalition_test_a", "3")  # nobody listens on a now: b still hears its own, a hears nothing more
        notify("coalition_test_b", "4")
        wait_for("coalition_test_b", ["2", "4"])
        assert heard["coalition_test_a"] == ["1"]
        assert connections() == 1
    finally:
        for listener in listeners:
            listener.close()
    _until_none(connections)
    shared.dispose()


def test_a_notification_read_with_a_listen_reply_is_delivered_at_once(database_url, engine):
    """A NOTIFY that reaches the shared connection just as it LISTENs for a newcomer is read with the LISTEN's reply
    (psycopg2 queues it, the socket is drained): it is delivered then, not left until the next notification."""
    from sqlalchemy import text

    from network.database import make_engine

    shared = make_engine(database_url, pool_size=1)
    heard: list[str] = []
    arrived = threading.Event()

    def on_b(payloads):
        heard.extend(payloads)
        arrived.set()

    b = ChannelListener(shared, "coalition_test_b", lambda: None, notified=on_b, name="test-listener")
    hub = b._hub
    assert b.connected.wait(30)
    real_current, armed = hub._current, threading.Event()

    def current():  # the NOTIFY lands on the socket after the hub's wait, before its LISTEN for the newcomer
        if armed.is_set():
            armed.clear()
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_notify('coalition_test_b', 'racing')"))
                conn.commit()
            time.sleep(0.3)
        return real_current()

    hub._current = current
    armed.set()
    c = ChannelListener(shared, "coalition_test_c", lambda: None, name="test-listener")
    try:
        assert c.connected.wait(30) and not armed.is_set()
        assert arrived.wait(5), "the notification read with the LISTEN reply was never delivered"
        assert heard == ["racing"]
    finally:
        b.close()
        c.close()
    shared.dispose()
