"""Schema changes go through Alembic; a server refuses to start on an unmigrated schema."""

from __future__ import annotations

import pytest

from network.database import UnmigratedSchema, head_revision, make_engine, migrate, schema_revision
from network.server import start_server


@pytest.fixture
def empty_database(scratch_database):
    return scratch_database("coalition_empty")


def test_server_refuses_unmigrated_schema_then_starts_after_migrating(empty_database, settings):
    engine = make_engine(empty_database, pool_size=2)
    try:
        with pytest.raises(UnmigratedSchema, match="coalition db migrate"):
            start_server(engine, settings, address="127.0.0.1:0")
        migrate(empty_database)
        assert schema_revision(engine) == head_revision(empty_database)
        running = start_server(engine, settings, address="127.0.0.1:0")
        running.stop(0)
    finally:
        engine.dispose()
