"""Observability: Prometheus metrics of signed calls, refusals and ledger transactions; JSON logs carrying the
call's request id and partner id; gRPC health following the database."""

from __future__ import annotations

import io
import json
import logging
import time
import urllib.request
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import text

from network import logs, metrics
from network.database import make_engine, migrate
from network.ports import free_port
from network.server import start_server
from partners import signing
from partners.client import PartnerClient
from partners.errors import PermissionDenied, SignatureInvalid

EARN = "/coalition.v1.NetworkService/Earn"


def test_calls_refusals_and_ledger_transactions_are_counted(network_metric, make_partner, target):
    def sample(name: str, **labels) -> float:  # across the network's servers (the multi-process one's /metrics too)
        return network_metric(name, labels)

    partner = make_partner("metrics", return_window_seconds=0)
    before = {
        "earn_ok": sample("coalition_grpc_requests_total", method=EARN, code="OK"),
        "earn_latency": sample("coalition_grpc_request_duration_seconds_count", method=EARN),
        "earn_tx": sample("coalition_ledger_transactions_total", kind="earn"),
        "redeem_tx": sample("coalition_ledger_transactions_total", kind="redeem"),
        "refused_redeem": sample("coalition_grpc_requests_total", method="/coalition.v1.NetworkService/Redeem",
                                 code="FAILED_PRECONDITION"),
        "unknown_key": sample("coalition_signatures_refused_total", reason="KEY_UNKNOWN"),
    }
    with partner.client() as client:
        member = client.enroll_member(customer_ref="m-1").member
        client.earn(member.member_id, points=100)
        client.earn(member.member_id, amount_minor=500)
        client.batch_earn([{"member_id": member.member_id, "points": 5} for _ in range(3)])
        client.redeem(member.member_id, 50)
        with pytest.raises(Exception):
            client.redeem(member.member_id, 10_000)
    with PartnerClient(target, "no-such-key", signing.generate_private_key(), max_attempts=1) as stranger:
        with pytest.raises(SignatureInvalid):
            stranger.get_balance(member.member_id)
    assert sample("coalition_grpc_requests_total", method=EARN, code="OK") == before["earn_ok"] + 2
    assert sample("coalition_grpc_request_duration_seconds_count", method=EARN) == before["earn_latency"] + 2
    assert sample("coalition_ledger_transactions_total", kind="earn") == before["earn_tx"] + 5  # 2 + batch of 3
    assert sample("coalition_ledger_transactions_total", kind="redeem") == before["redeem_tx"] + 1  # refused: none
    assert sample("coalition_grpc_requests_total", method="/coalition.v1.NetworkService/Redeem",
                  code="FAILED_PRECONDITION") == before["refused_redeem"] + 1
    assert sample("coalition_signatures_refused_total", reason="KEY_UNKNOWN") == before["unknown_key"] + 1


def test_metrics_are_served_over_http():
    port = free_port()
    assert metrics.serve_http(port) == port
    assert metrics.serve_http(port) == port  # a second call in the same process is a no-op
    metrics.observe_settlement_cycle(42.0, "closed")  # labelled metrics show samples once observed: one of each
    metrics.observe_call("/coalition.test/Served", "OK", 0.002)
    metrics.refused_signature("/coalition.test/Served", "TEST_ONLY")
    metrics.count_ledger_transactions("earn", 0)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for name in ("coalition_grpc_requests_total", "coalition_grpc_request_duration_seconds_bucket",
                 "coalition_signatures_refused_total", "coalition_ledger_transactions_total",
                 'coalition_settlement_cycle_duration_seconds_count{outcome="closed"}'):
        assert name in body
    assert metrics.serve_http(0) == 0


def test_json_logs_carry_request_id_and_partner_id(engine, settings, network_signer, make_partner):
    """What a server logs in its own process: one started here (the tests' server may be a subprocess)."""
    owner, other = make_partner("owner", return_window_seconds=0), make_partner("other")
    running = start_server(engine, settings, address="127.0.0.1:0", signer=network_signer)
    here = f"127.0.0.1:{running.port}"
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    logs.configure("INFO", "json", stream=stream)
    try:
        with PartnerClient(here, owner.key_id, owner.private_key) as client:
            member = client.enroll_member(customer_ref="log-1").member
            client.earn(member.member_id, points=20)
            hold = client.authorize_redemption(member.member_id, 10)
        request_id = uuid.uuid4().hex
        with PartnerClient(here, other.key_id, other.private_key) as client, pytest.raises(PermissionDenied):
            client.void_redemption(hold.hold_id, request_id=request_id)  # not its hold: refused and logged
        logging.getLogger("tests").info("outside any call")
    finally:
        running.stop(0)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    refused = [line for line in lines if line["message"].startswith("refused /coalition.v1.NetworkService/VoidRedemption")]
    assert refused, lines
    assert refused[0]["request_id"] == request_id and refused[0]["partner_id"] == other.partner_id
    assert refused[0]["method"] == "/coalition.v1.NetworkService/VoidRedemption" and refused[0]["level"] == "INFO"
    outside = next(line for line in lines if line["message"] == "outside any call")
    assert "request_id" not in outside and "partner_id" not in outside


def test_health_turns_not_serving_when_the_database_is_unreachable(engine, database_url, settings, network_signer):
    name = f"health_{uuid.uuid4().hex[:8]}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin_conn:
        admin_conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_engine(database_url).url.set(database=name).render_as_string(hide_password=False)
    migrate(url)
    probe_engine = make_engine(url, pool_size=2)
    running = start_server(probe_engine, settings, address="127.0.0.1:0", signer=network_signer)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    stub = health_pb2_grpc.HealthStub(channel)

    def wait_for(status: int, seconds: float = 30.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if stub.Check(health_pb2.HealthCheckRequest(service="coalition.v1.NetworkService"), timeout=2).status == status:
                return
            time.sleep(0.2)
        raise AssertionError(f"health did not become {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")

    def set_connections(allowed: bool) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin_conn:
            admin_conn.execute(text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {'true' if allowed else 'false'}"))
            if not allowed:
                admin_conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                                   {"d": name})

    try:
        wait_for(health_pb2.HealthCheckResponse.SERVING)
        set_connections(False)  # the database stops answering this server
        wait_for(health_pb2.HealthCheckResponse.NOT_SERVING)
        set_connections(True)
        wait_for(health_pb2.HealthCheckResponse.SERVING)
    finally:
        channel.close()
        running.stop(0)
        probe_engine.dispose()
        set_connections(False)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as admin_conn:
            admin_conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
