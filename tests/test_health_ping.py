"""The health watcher's ping (network.database.Pinger) runs on a connection of its own: a pool that requests keep
busy is load, not an outage (before, the ping waited for a pooled connection and, with the pool empty, failed:
health went NOT_SERVING and every call was answered DATABASE_UNAVAILABLE); a database that cannot be reached is a
failed ping, and the next ping after it connects again."""

from __future__ import annotations


from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from network.database import Pinger
from network.ports import free_port


def test_a_pool_with_every_connection_checked_out_still_pings(database_url):
    engine = create_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=1)
    pinger = Pinger(engine)
    try:
        with engine.connect() as held:  # the pool's only connection, busy
            held.execute(text("SELECT 1"))
            assert engine.pool.checkedout() == 1
            assert pinger.ping() is True
            assert pinger.ping() is True  # the same connection again
        assert engine.pool.checkedout() == 0  # the ping never took one
    finally:
        pinger.close()
        engine.dispose()


def test_an_unreachable_database_fails_the_ping_and_a_later_ping_connects_again(database_url):
    dead_port = free_port()  # a TCP port nothing listens on
    nowhere = create_engine(make_url(database_url).set(host="127.0.0.1", port=dead_port, query={}))
    assert Pinger(nowhere).ping() is False
    nowhere.dispose()

    engine = create_engine(database_url)
    pinger = Pinger(engine)
    try:
        assert pinger.ping() is True
        backend = pinger._connection.get_backend_pid()  # this pinger's, not the session servers' pingers
        with engine.connect() as conn:  # the ping's backend goes away (as in a database restart)
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
        assert pinger.ping() is False  # the broken connection is a failed ping, and is dropped
        assert pinger.ping() is True  # the next one connects again
    finally:
        pinger.close()
        engine.dispose()
