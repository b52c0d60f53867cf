"""One schema truth: the Alembic migrations and the SQLAlchemy models describe the same schema.

A fresh database is migrated to head, then Alembic's autogenerate comparison runs against network's and
settlement's models together: any difference (a table, column, type, nullability, default, index or constraint
that one side has and the other lacks) fails, with the differences listed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

import settlement.models  # noqa: F401 - registers settlement's tables on the shared metadata
from network.database import MIGRATIONS, alembic_config, make_engine, migrate
from network.models import Base

ROOT = Path(__file__).resolve().parents[1]


def _drift(conn, **opts) -> list:
    """Alembic's comparison of the database with the models. The partitions of journal, postings and
    idempotency_keys (network.store.partitions) are their parents' storage, not tables of the models."""
    children = set(conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits")).scalars())
    context = MigrationContext.configure(conn, opts={
        "compare_type": True, **opts,
        "include_name": lambda name, kind, parent: not (kind == "table" and name in children)})
    return compare_metadata(context, Base.metadata)


@pytest.fixture
def fresh_database(scratch_database):
    return scratch_database("coalition_schema")


def test_migrated_schema_matches_the_models(fresh_database):
    migrate(fresh_database)
    engine = make_engine(fresh_database, pool_size=1)
    try:
        with engine.connect() as conn:
            drift = _drift(conn, compare_server_default=True)
    finally:
        engine.dispose()
    assert drift == [], "models and migrations differ:\n" + "\n".join(map(repr, drift))


def test_the_comparison_sees_drift(fresh_database):
    """The check above can fail: a column the models have and the migrations do not is reported."""
    migrate(fresh_database)
    engine = make_engine(fresh_database, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE partners DROP COLUMN bic"))
        with engine.connect() as conn:
            drift = _drift(conn)
    finally:
        engine.dispose()
    assert [d[0] for d in drift] == ["add_column"] and drift[0][3].name == "bic"


def test_settlement_owns_its_migrations():
    """Settlement's tables are created by revisions in settlement/migrations/versions, network's in network's;
    one linear history; the Alembic environment imports nothing from settlement."""
    scripts = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    assert len(scripts.get_heads()) == 1
    settlement_tables = {t.name for t in Base.metadata.sorted_tables if t.name in _tables_of(settlement.models)}
    created = {}
    for revision in scripts.walk_revisions():
        source = Path(revision.path).read_text()
        for table in settlement_tables:
            if f"op.create_table('{table}'" in source or f'op.create_table("{table}"' in source:
                created[table] = Path(revision.path).parent
    assert created and set(created) == settlement_tables
    assert set(created.values()) == {ROOT / "settlement" / "migrations" / "versions"}
    env = ast.parse((MIGRATIONS / "env.py").read_text())
    imported = {alias.name for node in ast.walk(env) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(env) if isinstance(node, ast.ImportFrom) and node.module}
    assert not any(name.split(".")[0] == "settlement" for name in imported)


def _tables_of(module) -> set[str]:
    return {value.__tablename__ for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Base) and hasattr(value, "__tablename__")}


def test_a_database_at_0002_upgrades_and_keeps_its_partners_mandates(fresh_database):
    """A database migrated before settlement's revision moved folders, and before mandates were on the partner
    record, upgrades to head; its partners keep the mandate they were collected under ('COAL-<id>', joined on)."""
    command.upgrade(alembic_config(fresh_database), "0002")
    engine = make_engine(fresh_database, pool_size=1)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO partners (partner_id, name, status, currency, created_at) "
                              "VALUES ('old-partner', 'Old', 'active', 'EUR', '2025-03-04 23:30:00+00')"))
        migrate(fresh_database)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT sepa_mandate_id, sepa_mandate_signed_on::text FROM partners")).one()
    finally:
        engine.dispose()
    assert tuple(row) == ("COAL-old-partner", "2025-03-04")
