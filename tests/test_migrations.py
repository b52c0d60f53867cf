"""Schema changes go through Alembic; a server refuses to start on an unmigrated schema."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from network.database import UnmigratedSchema, head_revision, make_engine, migrate, schema_revision
from network.server import start_server


@pytest.fixture
def empty_database(engine, database_url):
    name = f"coalition_empty_{uuid.uuid4().hex[:8]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


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
