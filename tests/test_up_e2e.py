"""`coalition up --demo` end to end: a subprocess through the venv's `coalition` script, in a temporary data
directory, on free ports. Health, signed SDK calls, a settlement cycle closing, a refused second `up`,
SIGINT stopping every process it started, and a restart that finds the same data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import grpc
import psutil
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import create_engine, text

from coalition.up import AlreadyRunning, DataDirLock, Supervisor
from network.ports import free_port
from partners.client import PartnerClient
from partners.keyfile import load_key_file

COALITION = Path(sys.executable).parent / "coalition"


def free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port + 1 < 65536 and port not in ports and port + 1 not in ports:
            ports.append(port)
    return ports


def wait_until(what: str, check, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"coalition up exited ({process.returncode}) while waiting for {what}:\n"
                                 + (log.read_text()[-3000:] if log else ""))
        try:
            result = check()
            if result:
                return result
        except Exception:  # noqa: BLE001 - not yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{log.read_text()[-3000:]}" if log else ""))


def serving(target: str) -> bool:
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def database_url(data_dir: Path) -> str:
    """The embedded server's URL read from its postmaster.pid, without registering as one of its users."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir / "postgres")
    assert info is not None and info.is_running()
    return info.get_uri(database="coalition").replace("postgresql://", "postgresql+psycopg2://", 1)


def process_tree(up: subprocess.Popen, data_dir: Path) -> list[psutil.Process]:
    """Everything `up` started: its descendants, and the PostgreSQL server (a daemon: pg_ctl detaches it)."""
    from pgserver.utils import PostmasterInfo

    found = psutil.Process(up.pid).children(recursive=True)
    info = PostmasterInfo.read_from_pgdata(data_dir / "postgres")
    if info is not None and info.is_running():
        postmaster = psutil.Process(info.pid)
        found += [postmaster, *postmaster.children(recursive=True)]
    return found


def gone(processes: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture
def up_env(tmp_path):
    grpc_port, console_port, temporal_port, ui_port, metrics_port, portal_port = free_ports(6)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")
           and not k.startswith("COALITION_")}
    env.update({
        "COALITION_GRPC_ADDRESS": f"127.0.0.1:{grpc_port}", "COALITION_CONSOLE_PORT": str(console_port),
        "COALITION_TEMPORAL_PORT": str(temporal_port), "COALITION_TEMPORAL_UI_PORT": str(ui_port),
        "COALITION_METRICS_PORT": str(metrics_port), "COALITION_PORTAL_PORT": str(portal_port),
        "COALITION_SETTLEMENT_PERIOD_SECONDS": "15", "COALITION_DISPUTE_WINDOW_SECONDS": "5",
        "COALITION_DEMO_MEMBERS": "600", "COALITION_DEMO_RATE_PER_SECOND": "10",
        "COALITION_DEMO_HISTORY_DAYS": "14",  # two weeks of back-dated history, two closed weekly cycles
    })
    return env, f"127.0.0.1:{grpc_port}", metrics_port, tmp_path / "coalition"


def start_up(env: dict, data_dir: Path, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([str(COALITION), "up", "--demo", "--data-dir", str(data_dir)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_up(up: subprocess.Popen, data_dir: Path, log: Path) -> None:
    started = process_tree(up, data_dir)
    assert len(started) >= 5, [p.name() for p in started]
    up.send_signal(signal.SIGINT)
    assert up.wait(90) == 0, log.read_text()[-3000:]
    left = gone(started)
    assert not left, [(p.pid, p.name()) for p in left]


@pytest.mark.slow
def test_up_demo_runs_stops_cleanly_and_keeps_its_data(up_env, tmp_path):
    env, target, metrics_port, data_dir = up_env
    log = tmp_path / "up.log"
    up = start_up(env, data_dir, log)
    try:
        wait_until("gRPC health", lambda: serving(target), 240, up, log)
        wait_until("the console line", lambda: "Ctrl-C stops everything" in log.read_text(), 60, up, log)
        text_out = log.read_text()
        assert "login operator / coalition" in text_out and "coalition-partner balance" in text_out
        outbox = data_dir / "outbox"  # the demo's member login, and where its code appears
        assert "A member login: demo-member-0@example.com" in text_out and str(outbox) in text_out
        portal = f"http://127.0.0.1:{env['COALITION_PORTAL_PORT']}/_stcore/health"
        assert urllib.request.urlopen(portal, timeout=5).status == 200

        second = subprocess.run([str(COALITION), "up", "--data-dir", str(data_dir)], env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode != 0 and "already running" in second.stdout + second.stderr
        assert str(up.pid) in second.stdout + second.stderr

        key = load_key_file(data_dir / "keys" / "brewhouse.json")
        with PartnerClient(key.target, key.key_id, key.private_key()) as client:
            member = client.enroll_member(customer_ref="e2e-newcomer").member
            earned = client.earn(member.member_id, points=250, receipt_ref="e2e-1")
            assert client.last_receipt is not None
            balance = client.get_balance(member.member_id)
        assert balance.pending_points + balance.available_points >= 250

        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
        assert 'coalition_grpc_requests_total{code="OK",method="/coalition.v1.NetworkService/Earn"}' in metrics

        engine = create_engine(database_url(data_dir))
        try:
            def closed_cycle():  # one the worker's schedule ran (the history's were closed before it started)
                with engine.connect() as conn:
                    return conn.execute(text("SELECT cycle_id FROM cycles WHERE state = 'closed' "
                                             "AND workflow_id = cycle_id ORDER BY period_end LIMIT 1")).scalar()
            cycle_id = wait_until("a settlement cycle to close", closed_cycle, 240, up, log)
            with engine.connect() as conn:
                history_cycles = conn.execute(text(
                    "SELECT count(*) FROM cycles WHERE state = 'closed' AND workflow_id LIKE 'demo-history-%' "
                    "AND EXISTS (SELECT 1 FROM statements s WHERE s.cycle_id = cycles.cycle_id)")).scalar_one()
                assert history_cycles == 2 and "cycle 2/2 closed" in log.read_text()
                members = conn.execute(text("SELECT count(*) FROM members")).scalar_one()
                simulated = conn.execute(text("SELECT count(*) FROM journal WHERE request_id NOT LIKE 'demo-welcome-%'"
                                              )).scalar_one()
        finally:
            engine.dispose()
        assert members >= 600 and simulated > 20
    finally:
        if up.poll() is None:
            stop_up(up, data_dir, log)

    # again, on the same directory: the same data
    up = start_up(env, data_dir, log)
    try:
        wait_until("gRPC health after the restart", lambda: serving(target), 240, up, log)
        wait_until("everything after the restart", lambda: log.read_text().count("Ctrl-C stops everything") == 2,
                   120, up, log)
        with PartnerClient(key.target, key.key_id, key.private_key()) as client:
            found = client.find_member(customer_ref="e2e-newcomer").member
            assert found.member_id == member.member_id
            history = [t.transaction_id for t in client.list_transactions(member.member_id)]
            assert earned.transaction_id in history
        engine = create_engine(database_url(data_dir))
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT state FROM cycles WHERE cycle_id = :c"), {"c": cycle_id}).scalar() == "closed"
                assert conn.execute(text("SELECT count(*) FROM members")).scalar_one() == members  # seeding is idempotent
        finally:
            engine.dispose()
        from temporalio.client import Client
        import asyncio

        async def workflow_status():
            client = await Client.connect(f"127.0.0.1:{env['COALITION_TEMPORAL_PORT']}")
            return (await client.get_workflow_handle(cycle_id).describe()).status.name
        assert asyncio.run(workflow_status()) == "COMPLETED"  # Temporal's history survived the restart too
    finally:
        if up.poll() is None:
            stop_up(up, data_dir, log)


def test_one_up_per_data_directory(tmp_path):
    first = DataDirLock(tmp_path / "up.lock").acquire()
    try:
        with pytest.raises(AlreadyRunning) as refused:
            DataDirLock(tmp_path / "up.lock").acquire()
        assert refused.value.pid == os.getpid()
    finally:
        first.release()
    DataDirLock(tmp_path / "up.lock").acquire().release()  # free again once released (or its holder died)


def test_a_stopped_child_takes_its_whole_process_group_with_it(tmp_path):
    supervisor = Supervisor(tmp_path / "logs")
    # a child that ignores SIGTERM and has a grandchild: only the group SIGKILL after the timeout ends both
    child = supervisor.spawn("stubborn", ["sh", "-c", "trap '' TERM; sleep 60 & sleep 60; wait"], dict(os.environ))
    deadline = time.monotonic() + 5
    while len(psutil.Process(child.process.pid).children()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    family = [psutil.Process(child.process.pid), *psutil.Process(child.process.pid).children(recursive=True)]
    assert len(family) == 3
    assert child.stop(timeout=1.0) is False  # had to be killed
    assert not gone(family) and not child.group_alive()
    polite = supervisor.spawn("polite", ["sleep", "60"], dict(os.environ))
    assert polite.stop(timeout=5.0) is True
