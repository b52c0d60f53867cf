"""The embedded PostgreSQL starts even when pgserver's list of its users was left half-written (an empty file,
from a process stopped while rewriting it): that list is started afresh, with a warning."""

from __future__ import annotations

import logging

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
