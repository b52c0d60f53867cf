"""Fixtures: a real PostgreSQL (pgserver), the real network server on loopback, partners with keys and clients.

Everything is started by the project's own code (the same embedded defaults `coalition up` uses) and stopped
after the session. Integration tests that touch the ledger get `coalition ledger verify` run after them.

COALITION_TEST_SERVER_PROCESSES=N (N > 1) makes `network_server` the multi-process server, `coalition network
serve --processes N` in a subprocess on the same database, network key and shard count, e.g.
    COALITION_TEST_SERVER_PROCESSES=2 pytest tests/test_network_api.py tests/test_network_refusals.py
"""

from __future__ import annotations

import base64
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable, Iterator, Mapping

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from network import admin, errors
from network.database import EmbeddedPostgres, make_engine, migrate
from network.ports import free_port
from network.signer import NetworkSigner
from network.server import RunningServer, start_server
from coalition.settings import CoalitionSettings
from network.store.verify import verify_ledger
from partners import signing

_counter = itertools.count(1)
# Test partners let members they enrolled at their own till spend there without a PIN or code up to this many points
# (the contract term), so that tests of other rules need no member verification; spends elsewhere do need one
# (member_pin). The real default, 0, and the consent rules are tests/test_consent.py's.
TEST_CONTRACT = {"unverified_spend_limit_points": 100_000}

# A refusal the reason catalogue (partners/reasons.py) does not list, or lists with another code or other
# metadata keys, raises where it is built: the test that triggers it fails.
errors.STRICT_REASONS = True


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("coalition")


@pytest.fixture(scope="session", autouse=True)
def _default_data_dir_in_the_session(session_dir: Path) -> Iterator[None]:
    """Code that falls back to the default data directory (COALITION_DATA_DIR unset) writes under this session's
    temporary directory, never the checkout's .coalition. An embedded PostgreSQL started there is stopped when the
    session ends, and the session fails: nothing in the tests should start one. (Full runs had left one running in
    the checkout: spawned children re-running a console page left as __main__ by AppTest; see
    _main_module_put_back.)"""
    from network.settings import from_environment

    defaults = session_dir / "default-data"
    before = os.environ.get("COALITION_DATA_DIR")
    os.environ["COALITION_DATA_DIR"] = str(defaults)
    from_environment.cache_clear()
    yield
    if before is None:
        os.environ.pop("COALITION_DATA_DIR", None)
    else:
        os.environ["COALITION_DATA_DIR"] = before
    from_environment.cache_clear()
    started = list(defaults.glob("**/postmaster.pid"))
    for pid_file in started:
        try:
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)  # PostgreSQL's fast shutdown
        except (OSError, ValueError, IndexError):
            pass
    if started:
        pytest.fail(f"an embedded PostgreSQL was started in the default data directory (stopped): {started}")


@pytest.fixture(autouse=True)
def _main_module_put_back() -> Iterator[None]:
    """Streamlit's AppTest runs a page as this process's __main__ (its ScriptRunner replaces sys.modules["__main__"]
    and leaves it there). A process multiprocessing's spawn starts later runs the parent's __main__ again by path,
    so each child would run that page: the console's pages open the database at the top (console.data.engine()),
    which with DATABASE_URL unset here started an embedded PostgreSQL in the default data directory (test_bench's
    client pool after an AppTest module on the same worker). After every test __main__ is the one it found."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def database_url(session_dir: Path) -> Iterator[str]:
    if os.environ.get("COALITION_TEST_DATABASE_URL"):
        url = os.environ["COALITION_TEST_DATABASE_URL"]
        migrate(url)
        yield url
        return
    embedded = EmbeddedPostgres(session_dir / "postgres", cleanup_mode="delete")
    migrate(embedded.url)
    yield embedded.url
    embedded.stop()


# The session's engine once made: _no_connection_left_checked_out watches its pool after every test.
_session_engines: list[Engine] = []


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=8)
    _session_engines.append(engine)
    yield engine
    _session_engines.remove(engine)
    engine.dispose()


def _writers_alive() -> int:
    """The pooled connections running servers may hold for good: each group-commit writer (network.group_commit)
    keeps the connection it took for its lifetime. Listeners hold none (their connections are outside the pool)."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("group-commit-") and t.is_alive())


@pytest.fixture(autouse=True)
def _no_connection_left_checked_out() -> Iterator[None]:
    """A test that leaves a connection of the session's pool checked out (a connection never closed, a thread or
    server never stopped) fails here, at its own teardown, rather than a test much later timing out on an empty pool
    (QueuePool limit ... reached). What the test stopped gets a few seconds to give its connections back. Only the
    test that left them fails: the ones after it are measured against what was already left before them."""
    before = _session_engines[0].pool.checkedout() - _writers_alive() if _session_engines else 0
    yield
    if not _session_engines:
        return
    pool = _session_engines[0].pool
    allowed = max(before, 0)
    deadline = time.monotonic() + 10
    while (left := pool.checkedout() - _writers_alive()) > allowed and time.monotonic() < deadline:
        time.sleep(0.1)
    if left > allowed:
        threads = sorted(t.name for t in threading.enumerate() if not t.name.startswith(("grpc", "ThreadPool")))
        pytest.fail(f"the test left {left - allowed} connection(s) of the session's pool checked out ({pool.status()}; "
                    f"{_writers_alive()} group-commit writers alive; threads: {', '.join(threads)})", pytrace=False)


@pytest.fixture
def scratch_database(engine: Engine, database_url: str) -> Iterator[Callable[[str], str]]:
    """`scratch_database(prefix)`: the url of a new, empty database on the test server (not migrated), dropped
    after the test."""
    made: list[str] = []

    def create(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return make_url(database_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in made:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def settings(session_dir: Path) -> CoalitionSettings:
    return CoalitionSettings(data_dir=session_dir, grpc_address="127.0.0.1:0", ledger_shards=16)


@pytest.fixture(scope="session")
def network_signer(session_dir: Path) -> NetworkSigner:
    return NetworkSigner.from_file(session_dir / "network-key.pem")


@dataclass
class SupervisedServer:
    """`coalition network serve --processes N` in a subprocess: the part of RunningServer the tests use."""

    process: subprocess.Popen
    port: int
    metrics_port: int  # its /metrics: every process's samples, summed

    def stop(self, grace: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(max(grace, 30.0))


def _serving(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.RpcError:
            return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def start_supervised(database_url: str, data_dir: Path, processes: int,
                     env: Mapping[str, str] | None = None) -> SupervisedServer:
    """Start the multi-process server on a free port of 127.0.0.1 and wait until it answers health checks."""
    port, metrics_port = free_port(), free_port()
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "coalition.cli", "network", "serve", "--processes", str(processes),
         "--address", f"127.0.0.1:{port}"], cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "DATABASE_URL": database_url, "COALITION_DATA_DIR": str(data_dir),
             "COALITION_NETWORK_KEY_FILE": str(data_dir / "network-key.pem"), "COALITION_LEDGER_SHARDS": "16",
             "COALITION_LOG_LEVEL": "WARNING", "COALITION_METRICS_PORT": str(metrics_port),
             "COALITION_METRICS_ADDRESS": "127.0.0.1", **(env or {})})
    deadline = time.monotonic() + 120
    while not _serving(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the {processes}-process server did not start (exit status {process.poll()})")
        time.sleep(0.2)
    return SupervisedServer(process, port, metrics_port)


@pytest.fixture(scope="session")
def supervised_server() -> Callable[..., SupervisedServer]:
    """start_supervised, for tests (a conftest's functions are not importable by name from every test dir)."""
    return start_supervised


@pytest.fixture(scope="session")
def network_server(engine: Engine, settings: CoalitionSettings, database_url: str, session_dir: Path,
                   network_signer: NetworkSigner) -> Iterator[RunningServer | SupervisedServer]:
    processes = int(os.environ.get("COALITION_TEST_SERVER_PROCESSES", "1"))
    if processes > 1:
        supervised = start_supervised(database_url, session_dir, processes)
        yield supervised
        supervised.stop()
        return
    running = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    yield running
    running.stop(0)


@pytest.fixture(scope="session")
def network_metric(network_server: RunningServer | SupervisedServer) -> Callable[[str, dict[str, str]], float]:
    """A sample's value across the network's servers: this process's registry (the tests' server when it runs here,
    and any second server a test starts here), plus the multi-process server's /metrics when that is the tests'
    server (COALITION_TEST_SERVER_PROCESSES)."""
    from urllib.request import urlopen

    from prometheus_client import REGISTRY
    from prometheus_client.parser import text_string_to_metric_families

    def value(name: str, labels: dict[str, str]) -> float:
        total = REGISTRY.get_sample_value(name, labels) or 0.0
        if isinstance(network_server, SupervisedServer):
            with urlopen(f"http://127.0.0.1:{network_server.metrics_port}/metrics", timeout=10) as answer:
                text = answer.read().decode()
            total += sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                         if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))
        return total

    return value


@pytest.fixture(scope="session")
def target(network_server: RunningServer) -> str:
    return f"127.0.0.1:{network_server.port}"


@dataclass
class PartnerHandle:
    partner_id: str
    key_id: str
    private_key: object
    target: str

    def client(self, **options):
        from partners.client import PartnerClient

        return PartnerClient(self.target, self.key_id, self.private_key, **options)


@pytest.fixture
def make_partner(engine: Engine, target: str) -> Callable[..., PartnerHandle]:
    """Create a partner with a contract (keyword overrides of ContractDraft) and one registered key."""

    def make(prefix: str = "p", *, name: str | None = None, iban: str | None = "DE89370400440532013000",
             **contract) -> PartnerHandle:
        partner_id = f"{prefix}{next(_counter)}-{uuid.uuid4().hex[:6]}"
        key = signing.generate_private_key()
        key_id = f"{partner_id}-k1"
        with engine.begin() as conn:
            admin.create_partner(conn, "test", partner_id, name or partner_id.title(), iban=iban,
                                 mandate=admin.SepaMandate(f"M-{partner_id}", date(2026, 1, 5)))
            admin.set_contract(conn, "test", partner_id, admin.ContractDraft(**{**TEST_CONTRACT, **contract}))
            admin.register_key(conn, "test", partner_id, key_id, base64.b64encode(signing.raw_public(key)).decode())
        return PartnerHandle(partner_id, key_id, key, target)

    return make


@pytest.fixture
def member_pin(engine: Engine) -> Callable[[str], str]:
    """Give a member a spending PIN and return it, for tests of other rules that spend at a partner the member did
    not enrol with at its till (a cheap scrypt: the server verifies with the parameters stored with the PIN)."""
    from network.store import credentials

    def give(member_id: str, pin: str = "2580") -> str:
        with engine.begin() as conn:
            credentials.set_pin(conn, member_id, pin, params=credentials.ScryptParams(2**10, 8, 1))
        return pin

    return give


def wait_until_blocked_by(engine: Engine, holder: int, timeout: float = 10) -> None:
    """Until a session waits on a lock that backend `holder` (its pg_backend_pid()) holds. A connection of its own
    for each look: within one transaction PostgreSQL answers pg_stat_activity from the snapshot of the first look."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE :h = ANY(pg_blocking_pids(pid))"),
                            {"h": holder}).scalar_one():
                return
        assert time.monotonic() < deadline, f"nothing waited on backend {holder}"
        time.sleep(0.02)


def assert_ledger_verifies(engine: Engine) -> None:
    from settlement.verify import CHECKS as SETTLEMENT_CHECKS

    with engine.connect() as conn:
        failed = [c for c in verify_ledger(conn, extra=SETTLEMENT_CHECKS) if not c.ok]
    assert not failed, "ledger invariants broken: " + "; ".join(f"{c.name}: {c.detail} {c.examples}" for c in failed)


@pytest.fixture
def verified_ledger(engine: Engine) -> Iterator[Engine]:
    """Use in integration tests: the whole ledger must verify after the test."""
    yield engine
    assert_ledger_verifies(engine)


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., object]]:
    """`coalition ...` run in-process against the test database: cli("partner", "create", ...) returns typer's
    Result (exit_code, output)."""
    from typer.testing import CliRunner

    from coalition.cli import app
    from network.settings import from_environment

    monkeypatch.setenv("DATABASE_URL", database_url)
    from_environment.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args))
    from_environment.cache_clear()
