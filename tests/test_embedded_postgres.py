"""The embedded PostgreSQL starts even when pgserver's list of its users was left half-written (an empty file,
from a process stopped while rewriting it): that list is started afresh, with a warning. A start whose pg_ctl dies
is tried once more; one that keeps dying fails, with nothing of it left behind."""

from __future__ import annotations

import logging
import signal
import subprocess

import pytest
from sqlalchemy import create_engine, text

from network import database


@pytest.mark.parametrize(("content", "mended"), [("", True), ("[12, ", True), ('{"pid": 1}', True), ('["1"]', True),
                                                 ("[]", False), ("[4242, 4343]", False)])
def test_an_unreadable_list_is_started_afresh_a_readable_one_is_kept(tmp_path, caplog, content, mended):
    listed = tmp_path / database.HANDLE_LIST
    listed.write_text(content)
    with caplog.at_level(logging.WARNING, logger="network.database"):
        database._mend_handle_list(tmp_path)
    assert listed.read_text() == ("[]" if mended else content)
    assert ("unreadable" in caplog.text) is mended


def test_no_list_is_left_alone(tmp_path):
    database._mend_handle_list(tmp_path)
    assert not (tmp_path / database.HANDLE_LIST).exists()


def test_the_server_starts_over_an_empty_list(tmp_path):
    data = tmp_path / "postgres"
    database.EmbeddedPostgres(data).stop()  # initialised, used once, stopped (the data directory kept)
    (data / database.HANDLE_LIST).write_text("")  # what a process stopped mid-write leaves
    server = database.EmbeddedPostgres(data, cleanup_mode="delete")
    try:
        engine = create_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        engine.dispose()
    finally:
        server.stop()


def _failing_starts(monkeypatch, failures: int) -> list[list[str]]:
    """pgserver's pg_ctl, its first `failures` starts dying as the CI run saw one die: by SIGBUS, before it wrote any
    of its log. Every other pg_ctl call (stop, status) runs for real."""
    import pgserver.postgres_server as pg

    real, starts = pg.pg_ctl, []

    def pg_ctl(args, **kwargs):
        if "start" in args:
            starts.append(args)
            if len(starts) <= failures:
                raise subprocess.CalledProcessError(-signal.SIGBUS, ["pg_ctl", *args])
        return real(args, **kwargs)

    monkeypatch.setattr(pg, "pg_ctl", pg_ctl)
    return starts


def test_a_start_that_dies_once_is_tried_again(tmp_path, monkeypatch, caplog):
    import pgserver.postgres_server as pg

    starts = _failing_starts(monkeypatch, failures=1)
    with caplog.at_level(logging.WARNING, logger="network.database"):
        server = database.EmbeddedPostgres(tmp_path / "postgres", cleanup_mode="delete")
    try:
        assert len(starts) == 2
        assert "did not start" in caplog.text and "SIGBUS" in caplog.text
        engine = create_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        engine.dispose()
        assert pg.PostgresServer._instances[(tmp_path / "postgres").resolve()] is server._server
    finally:
        server.stop()


def test_a_start_that_keeps_dying_fails_and_leaves_nothing_registered(tmp_path, monkeypatch):
    import pgserver.postgres_server as pg

    starts = _failing_starts(monkeypatch, failures=database.START_ATTEMPTS)
    with pytest.raises(database.START_FAILURES):
        database.EmbeddedPostgres(tmp_path / "postgres")
    assert len(starts) == database.START_ATTEMPTS
    assert (tmp_path / "postgres").resolve() not in pg.PostgresServer._instances
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
