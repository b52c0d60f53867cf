"""network.outage's rules: which failures mean the database is unavailable, what is said about them, and one
WARNING per outage however many calls it refuses."""

from __future__ import annotations

import logging

import psycopg2
import psycopg2.errors
from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError

from network.outage import DatabaseOutage, database_failure, describe, is_conflict, is_connection_failure

REFUSED = 'connection to server on socket "/tmp/pg/.s.PGSQL.5432" failed: Connection refused\n\tIs the server running?'


class _SerializationFailure(psycopg2.errors.SerializationFailure):
    pgcode = "40001"  # what the server sets on a real one


def _operational() -> OperationalError:
    return OperationalError("INSERT INTO journal " + "x" * 10_000, {"ids": ["y" * 64] * 100},
                            psycopg2.OperationalError(REFUSED))


def _pending_rollback_after_disconnect() -> PendingRollbackError:
    try:
        try:
            raise _operational()
        except OperationalError:
            raise PendingRollbackError("Can't reconnect until invalid transaction is rolled back.")
    except PendingRollbackError as exc:
        return exc


def test_database_failures_are_found_on_the_exception_or_its_chain():
    pending = _pending_rollback_after_disconnect()
    raw = psycopg2.OperationalError("server closed the connection unexpectedly")
    assert database_failure(pending) is pending
    assert database_failure(raw) is raw
    assert database_failure(ValueError("not the database")) is None
    try:
        try:
            raise raw
        except psycopg2.OperationalError:
            raise RuntimeError("wrapped")
    except RuntimeError as wrapped:
        assert database_failure(wrapped) is raw


def test_connection_failures_are_outages_and_refused_statements_and_conflicts_are_not():
    assert is_connection_failure(_operational())
    assert is_connection_failure(_pending_rollback_after_disconnect())
    assert is_connection_failure(psycopg2.InterfaceError("connection already closed"))
    assert not is_connection_failure(IntegrityError("INSERT", {}, psycopg2.IntegrityError("duplicate key")))
    conflict = OperationalError("UPDATE lots", {}, _SerializationFailure("could not serialize access"))
    assert is_conflict(conflict) and not is_connection_failure(conflict)


def test_a_failure_is_described_by_the_first_line_of_the_drivers_error_without_sql_or_parameters():
    expected = 'OperationalError: connection to server on socket "/tmp/pg/.s.PGSQL.5432" failed: Connection refused'
    assert describe(_operational()) == expected
    assert describe(_pending_rollback_after_disconnect()) == expected
    background = PendingRollbackError("Can't reconnect. (Background on this error at: https://sqlalche.me/e/21/8s2b)")
    assert describe(background) == "PendingRollbackError: Can't reconnect."


def test_an_outage_is_declared_by_a_failed_ping_and_logged_once_however_many_calls_it_refuses(caplog):
    edges: list[bool] = []
    outage = DatabaseOutage(edges.append)
    caplog.set_level(logging.DEBUG, logger="network.outage")
    for _ in range(3):
        outage.call_failed(_operational())  # a broken connection alone is not an outage: the ping decides
    assert (outage.down, edges) == (False, [])
    outage.ping_failed()
    for _ in range(5):
        outage.call_failed(_operational())
    outage.ping_failed()
    assert (outage.down, edges) == (True, [False])
    outage.ping_succeeded()
    outage.ping_succeeded()
    assert (outage.down, edges) == (False, [False, True])
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert len(said) == 2
    assert said[0][0] == "WARNING" and said[0][1].startswith(
        'the database is unavailable (OperationalError: connection to server on socket "/tmp/pg/.s.PGSQL.5432" '
        "failed: Connection refused): answering UNAVAILABLE (DATABASE_UNAVAILABLE)")
    assert said[1][0] == "INFO" and said[1][1].endswith("8 calls were answered UNAVAILABLE meanwhile")


def test_a_broken_connection_while_the_database_answers_is_not_an_outage():
    edges: list[bool] = []
    dropped: list[str] = []
    outage = DatabaseOutage(edges.append, on_broken_connection=lambda: dropped.append("pool"))
    outage.call_failed(_operational())  # e.g. a pooled connection whose backend was terminated
    outage.ping_succeeded()
    assert (outage.down, edges, dropped) == (False, [], ["pool"])
