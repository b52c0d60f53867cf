"""Alembic environment: migrations run against the URL the caller configured."""

from alembic import context
from sqlalchemy import create_engine

from network.models import Base
import settlement.models  # noqa: F401 - settlement tables share the metadata

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
