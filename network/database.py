"""PostgreSQL for every Coalition process: the configured DATABASE_URL, or an embedded pgserver started here."""

from __future__ import annotations

import atexit
import json
import logging
import os
import pathlib
import subprocess
from contextlib import contextmanager
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text

from network.settings import Settings

log = logging.getLogger(__name__)
MIGRATIONS = pathlib.Path(__file__).resolve().parent / "migrations"
# One linear Alembic history in two folders, each package owning its tables' migrations: network's here,
# settlement's in settlement/migrations/versions (a path, not an import: network does not import settlement).
VERSION_LOCATIONS = (MIGRATIONS / "versions",
                     MIGRATIONS.parent.parent / "settlement" / "migrations" / "versions")
DATABASE_NAME = "coalition"


# pgserver's list of the processes using a data directory's server (it stops the server when the last one leaves).
# It rewrites the file in place, under its inter-process lock: a process stopped between the truncation and the
# write leaves it empty, and every later start then fails with "JSONDecodeError: Expecting value" until the file is
# mended. The mend takes the same lock, so it never reads a list another process is writing.
HANDLE_LIST = ".handle_pids.json"


def _mend_handle_list(data_dir: pathlib.Path) -> None:
    """An unreadable handle list is started afresh (no process listed), with a warning."""
    path = data_dir / HANDLE_LIST
    try:
        listed = json.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        listed = None
    if not isinstance(listed, list) or not all(isinstance(pid, int) for pid in listed):
        log.warning("the embedded PostgreSQL's list of its users (%s) was unreadable, probably left half-written "
                    "by a process that stopped; starting it afresh", path)
        path.write_text("[]")


# A start is tried this many times. Once seen in a CI run: pg_ctl killed by SIGBUS before it had written a line of
# its log, the same data directory starting at once when tried again. pgserver then fails reading the missing log
# (FileNotFoundError, the pg_ctl failure as its context) and leaves the failed server registered for the directory,
# so a second get_server in the process would hand that back; it is dropped before the next try.
START_ATTEMPTS = 2
START_FAILURES = (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError)


def _start_server(data_dir: pathlib.Path, cleanup_mode: str | None):
    import pgserver

    servers = pgserver.postgres_server.PostgresServer
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return pgserver.get_server(str(data_dir), cleanup_mode=cleanup_mode)
        except START_FAILURES as failure:
            failed = servers._instances.pop(data_dir.expanduser().resolve(), None)
            if failed is not None:
                atexit.unregister(failed._cleanup)
            if attempt == START_ATTEMPTS:
                raise
            cause = failure.__context__ if isinstance(failure, FileNotFoundError) and failure.__context__ else failure
            log.warning("the embedded PostgreSQL in %s did not start (%s); trying again", data_dir, cause)
    raise AssertionError("unreachable")


class EmbeddedPostgres:
    """A real PostgreSQL server from the `pgserver` package, its data in `data_dir`."""

    def __init__(self, data_dir: pathlib.Path, cleanup_mode: str | None = "stop"):
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        with pgserver.postgres_server.PostgresServer._lock:  # pgserver's own lock around its handle list
            _mend_handle_list(data_dir)
        self._server = _start_server(data_dir, cleanup_mode)
        if not self._server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';").count("1 row"):
            self._server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        uri = self._server.get_uri(DATABASE_NAME)
        self.url = uri.replace("postgresql://", "postgresql+psycopg2://", 1)

    def stop(self) -> None:
        self._server.cleanup()


def sqlalchemy_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return url


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The database to use, starting the embedded server when DATABASE_URL is unset."""
    if settings.database_url:
        return sqlalchemy_url(settings.database_url), None
    embedded = EmbeddedPostgres(settings.data_dir / "postgres")
    log.info("embedded PostgreSQL at %s", embedded.url)
    return embedded.url, embedded


def make_engine(url: str, pool_size: int = 8) -> Engine:
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                         connect_args={"options": "-c timezone=UTC"})


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p).replace("%", "%%") for p in VERSION_LOCATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def schema_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


class UnmigratedSchema(RuntimeError):
    pass


def require_migrated(engine: Engine) -> None:
    """Refuse to run on a schema that is not at the newest migration."""
    current = schema_revision(engine)
    head = head_revision(engine.url.render_as_string(hide_password=False))
    if current != head:
        raise UnmigratedSchema(
            f"database schema is at {current or 'nothing'}, this build needs {head}: run `coalition db migrate`")


@contextmanager
def transaction(engine: Engine) -> Iterator:
    with engine.begin() as conn:
        yield conn


class Pinger:
    """The health watcher's ping on a connection of its own, outside the engine's pool: a pool that requests keep
    busy (every connection checked out, say by spends waiting on one member's lock) is load, not an outage, and must
    not turn health NOT_SERVING. The connection is opened on the first ping and again after a failure, with a
    connect timeout and a statement timeout, so a database that does not answer is a failed ping, not a hang."""

    TIMEOUT_SECONDS = 5

    def __init__(self, engine: Engine):
        self._engine = engine
        self._connection = None

    def ping(self) -> bool:
        try:
            if self._connection is None:
                cargs, cparams = self._engine.dialect.create_connect_args(self._engine.url)
                self._connection = self._engine.dialect.connect(
                    *cargs, **{**cparams, "connect_timeout": self.TIMEOUT_SECONDS,
                               "options": f"-c statement_timeout={self.TIMEOUT_SECONDS * 1000}",
                               "application_name": "coalition-health"})
                self._connection.autocommit = True
            with self._connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not serving"; logged by the caller
            self.close()
            return False

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - a broken connection is being thrown away anyway
                pass
