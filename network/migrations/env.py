"""Alembic environment: migrations run against the URL the caller configured.

The revisions live in network/migrations/versions and settlement/migrations/versions (one linear history, see
network.database.VERSION_LOCATIONS). Autogenerate compares against the metadata the caller puts in
`config.attributes["target_metadata"]` (network's and settlement's tables: see tests/test_schema.py), else
network's models alone; this module imports nothing from settlement.
"""

from alembic import context
from sqlalchemy import create_engine

from network.models import Base

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    target_metadata = config.attributes.get("target_metadata", Base.metadata)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
