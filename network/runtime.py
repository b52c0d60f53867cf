"""Opening the parts a command needs: settings, logging, the database (embedded when DATABASE_URL is unset)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console
from sqlalchemy import Engine

from network import logs
from network.database import make_engine, migrate, resolve_database_url
from network.errors import DomainError
from network.settings import Settings, get_settings


def configure_logging(settings: Settings) -> None:
    """Log lines to stderr as text or JSON (settings.log_format), carrying request_id and partner_id."""
    logs.configure(settings.log_level, settings.log_format)


@contextmanager
def database(settings: Settings | None = None, *, run_migrations: bool = False) -> Iterator[Engine]:
    settings = settings or get_settings()
    url, embedded = resolve_database_url(settings)
    engine = make_engine(url, settings.db_pool_size)
    try:
        if run_migrations:
            migrate(url)
        yield engine
    finally:
        engine.dispose()
        if embedded is not None:
            embedded.stop()  # the server stops with the last process using it (pgserver counts its users)


@contextmanager
def refusals_exit() -> Iterator[None]:
    """For commands: a domain refusal is printed (status, reason, message) and the command exits with 2."""
    try:
        yield
    except DomainError as exc:
        Console(stderr=True).print(f"[red]{exc.code.name}[/red] {exc.reason}: {exc.message}")
        raise typer.Exit(2) from None


@contextmanager
def operator_transaction(settings: Settings | None = None) -> Iterator:
    """One database transaction for an operator command, refusals turned into exit code 2."""
    with database(settings) as engine, refusals_exit(), engine.begin() as conn:
        yield conn
