"""PostgreSQL or Temporal going away, against the real processes (`coalition network serve`, `coalition settlement
worker`) on a PostgreSQL of this module's own, which the tests stop and start:

- while PostgreSQL is down the network server answers UNAVAILABLE with ErrorInfo DATABASE_UNAVAILABLE to every
  call (never UNKNOWN or INTERNAL), its health says NOT_SERVING as soon as a call found the database gone and
  SERVING once it is back, it logs the outage once (not a traceback per call), and it keeps running;
- a network server or settlement worker started while PostgreSQL (the worker: or Temporal) is down waits for it
  and comes up once it is back.
"""

from __future__ import annotations

import time
from typing import Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console

from coalition.soak import Parts, SoakConfig, create_partners
from network.database import make_engine, migrate
from network.signer import NetworkSigner
from partners import errors
from partners.client import PartnerClient


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def parts(tmp_path):
    # one server process: the log checked is that process's (with --processes N each process says it once, and
    # the server is ready once any of them serves)
    parts = Parts(tmp_path / "outage", SoakConfig(seconds=0, network_processes=1), Console(quiet=True))
    migrate(parts.postgres.url)
    NetworkSigner.from_file(parts.settings.resolved_network_key_file())
    yield parts
    parts.stop_all()


def _health(target: str) -> int:
    with grpc.insecure_channel(target) as channel:
        return health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status


def _log(parts: Parts, name: str) -> str:
    return (parts.supervisor.logs_dir / f"{name}.log").read_text(errors="replace")


def test_server_answers_unavailable_while_the_database_is_down_and_logs_the_outage_once(parts):
    engine = make_engine(parts.postgres.url, pool_size=1)
    try:
        [shop] = create_partners(engine, 1, "outage")
    finally:
        engine.dispose()
    parts.start("network")
    parts.wait_ready("network")
    with PartnerClient(parts.target, shop.key_id, shop.private_key, max_attempts=1, timeout=5) as client:
        member = client.enroll_member().member.member_id
        for n in range(5):  # warm: the earn writer and the pool hold connections that the stop will break
            client.earn(member, points=10)
        log_before = len(_log(parts, "network"))

        parts.postgres.stop("fast")
        answers = []
        calls = [lambda: client.earn(member, points=1)] * 8 + [lambda: client.get_balance(member)] * 4 + \
                [lambda: client.redeem(member, 1)] * 4 + [lambda: client.authorize_redemption(member, 1)] * 4
        for index, call in enumerate(calls):
            with pytest.raises(errors.CoalitionError) as refused:
                call()
            answers.append((refused.value.code, refused.value.reason))
            if index == 0:  # the first failed call woke the health watcher: NOT_SERVING
                wait_for(lambda: _health(parts.target) == health_pb2.HealthCheckResponse.NOT_SERVING, 10,
                         "NOT_SERVING")
        assert set(answers) == {(grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE")}
        assert _health(parts.target) == health_pb2.HealthCheckResponse.NOT_SERVING

        parts.postgres.start()
        wait_for(lambda: _health(parts.target) == health_pb2.HealthCheckResponse.SERVING, 30, "SERVING again")
        assert client.earn(member, points=1).transaction_id
        assert client.get_balance(member).available_points == 51

    assert parts.current["network"].alive()
    outage_log = _log(parts, "network")[log_before:]
    assert outage_log.count("the database is unavailable") == 1, outage_log[-3000:]
    assert outage_log.count("the database answers again") == 1, outage_log[-3000:]
    assert "Traceback" not in outage_log, outage_log[-3000:]


def test_server_started_while_the_database_is_down_comes_up_when_it_is_back(parts):
    parts.postgres.stop("fast")
    server = parts.start("network")
    wait_for(lambda: not server.alive() or "waiting for the database" in _log(parts, "network"), 60,
             "the server to wait for the database (or exit)")
    assert server.alive(), _log(parts, "network")[-2000:]
    parts.postgres.start()
    parts.wait_ready("network")
    assert server.alive()
    assert _health(parts.target) == health_pb2.HealthCheckResponse.SERVING


def test_worker_started_while_the_database_is_down_comes_up_when_it_is_back(parts):
    parts.start("temporal")
    parts.wait_ready("temporal")
    parts.postgres.stop("fast")
    worker = parts.start("worker")
    wait_for(lambda: not worker.alive() or "waiting for the database" in _log(parts, "worker"), 60,
             "the worker to wait for the database (or exit)")
    assert worker.alive(), _log(parts, "worker")[-2000:]
    parts.postgres.start()
    parts.wait_ready("worker")
    assert worker.alive()
    assert "the database answers again" in _log(parts, "worker")


def test_worker_started_while_temporal_is_down_comes_up_when_it_is_back(parts):
    worker = parts.start("worker")
    wait_for(lambda: not worker.alive() or "waiting for Temporal" in _log(parts, "worker"), 60,
             "the worker to wait for Temporal (or exit)")
    assert worker.alive(), _log(parts, "worker")[-2000:]
    parts.start("temporal")
    parts.wait_ready("temporal")
    parts.wait_ready("worker")
    assert worker.alive()
    assert "Temporal answers again" in _log(parts, "worker")
