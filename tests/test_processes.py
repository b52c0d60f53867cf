"""Several server processes (or servers) on one database: every in-process cache stays correct across them.

Each start_server builds its own key directory, contract book and earn committer, exactly as each process of
`coalition network serve --processes N` does, so two servers in this process stand for two processes here;
the caches' TTLs are set to an hour, so only the cross-process mechanisms (NOTIFY, the in-transaction credit
check) can make these pass. test_supervisor_* start the real multi-process server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from network import admin, processes
from network.ports import free_port
from network.store import lots
from partners import errors
from partners.client import PartnerClient


@pytest.fixture(scope="module")
def two_servers(engine, settings, network_signer):
    slow_caches = settings.model_copy(update={"contract_cache_seconds": 3600.0, "exposure_cache_seconds": 3600.0})
    servers = [start(engine, slow_caches, network_signer) for _ in range(2)]
    yield [f"127.0.0.1:{s.port}" for s in servers]
    for s in servers:
        s.stop(0)


def start(engine, settings, signer):
    from network.server import start_server

    return start_server(engine, settings, address="127.0.0.1:0", signer=signer)


def clients(partner, targets):
    return [PartnerClient(t, partner.key_id, partner.private_key, max_attempts=1) for t in targets]


def test_a_revoked_key_is_refused_by_both_servers(make_partner, engine, two_servers):
    shop = make_partner("revoke")
    first, second = clients(shop, two_servers)
    member = first.enroll_member().member
    first.earn(member.member_id, points=1)
    second.earn(member.member_id, points=1)  # both servers now hold the key in their caches
    with engine.begin() as conn:
        admin.revoke_key(conn, "test", shop.key_id)
    for client in (first, second):
        with pytest.raises(errors.Unauthenticated) as refused:
            client.earn(member.member_id, points=1)
        assert refused.value.reason == "KEY_REVOKED"
        client.close()


def _points_until(client, member_id, amount_minor, expected, seconds=10.0) -> int:
    """Earn until the server applies the new contract (its NOTIFY travels asynchronously); the last points."""
    deadline = time.monotonic() + seconds
    while True:
        points = client.earn(member_id, amount_minor=amount_minor).points
        if points == expected or time.monotonic() > deadline:
            return points


def test_a_contract_change_is_seen_by_both_servers(make_partner, engine, two_servers):
    shop = make_partner("contract", earn_points_per_major=1)
    first, second = clients(shop, two_servers)
    member = first.enroll_member().member
    assert first.earn(member.member_id, amount_minor=1000).points == 10  # both cache version 1 (for an hour)
    assert second.earn(member.member_id, amount_minor=1000).points == 10
    with engine.begin() as conn:
        admin.set_contract(conn, "test", shop.partner_id, admin.ContractDraft(earn_points_per_major=3))
    assert _points_until(first, member.member_id, 1000, 30) == 30
    assert _points_until(second, member.member_id, 1000, 30) == 30
    first.close()
    second.close()


def test_earns_spread_over_two_servers_never_exceed_the_credit_limit(make_partner, engine, two_servers):
    shop = make_partner("limit", credit_limit_minor=1000)  # point value 1 minor unit: at most 1000 points
    first, second = clients(shop, two_servers)
    member = first.enroll_member().member
    first.earn(member.member_id, points=1)
    second.earn(member.member_id, points=1)  # each server has looked at the partner's exposure: 1-2 points
    first.earn(member.member_id, points=600)  # 602 outstanding
    with pytest.raises(errors.FailedPrecondition) as refused:
        second.earn(member.member_id, points=600)  # 1202: over the limit, whatever the second server saw before
    assert refused.value.reason == "CREDIT_LIMIT_EXCEEDED"

    def fill(client) -> None:  # one-point earns from both servers at once until each is refused
        while True:
            try:
                client.earn(member.member_id, points=1)
            except errors.FailedPrecondition as exc:
                assert exc.reason == "CREDIT_LIMIT_EXCEEDED"
                return

    threads = [threading.Thread(target=fill, args=(c,)) for c in (first, second, first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        assert lots.outstanding_points(conn, shop.partner_id) == 1000  # filled exactly to the limit, not past it
    first.close()
    second.close()


def _children(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children()


def _metric_sum(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_supervisor_runs_processes_on_one_port_sums_their_metrics_and_stops_them(make_partner, database_url,
                                                                              session_dir, supervised_server):
    metrics_port = free_port()
    server = supervised_server(database_url, session_dir, 2, {"COALITION_METRICS_PORT": str(metrics_port)})
    try:
        children = _children(server.process.pid)
        assert len(children) == 2
        shop = make_partner("super")
        target = f"127.0.0.1:{server.port}"
        # one connection per client (no shared subchannel), so the kernel spreads them over the processes
        callers = [PartnerClient(target, shop.key_id, shop.private_key,
                                 channel_options=(("grpc.use_local_subchannel_pool", 1),)) for _ in range(8)]
        member = callers[0].enroll_member().member
        for client in callers:
            for _ in range(3):
                client.earn(member.member_id, points=1)
            with grpc.insecure_channel(target) as channel:  # health and reflection on the shared port
                answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            client.close()
        page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
        # every process's samples, summed by the supervisor's one /metrics
        assert _metric_sum(page, "coalition_grpc_requests_total", method="/coalition.v1.NetworkService/Earn",
                           code="OK") == 24
        written_by = {p.name.rsplit("_", 1)[1]
                      for p in (session_dir / "prometheus-multiproc" / str(server.process.pid)).glob("counter_*.db")}
        assert written_by  # the children wrote into this supervisor's own directory
        assert written_by <= {f"{c.pid}.db" for c in children}
    finally:
        assert server.stop() == 0
    assert not any(c.is_running() and c.status() != "zombie" for c in children)


def test_supervisor_exits_non_zero_when_a_server_process_dies(database_url, session_dir, supervised_server):
    server = supervised_server(database_url, session_dir, 2)
    first, second = _children(server.process.pid)
    os.kill(first.pid, signal.SIGKILL)
    assert server.process.wait(60) == 1  # reported, the other stopped, no restart
    assert not second.is_running() or second.status() == "zombie"


def test_each_supervisor_empties_only_its_own_metrics_directory(tmp_path):
    """Two servers on one data dir: the second's start leaves the first's samples (its supervisor is running) and
    takes away those of a supervisor that is gone, and anything else left at the top (the layout before one
    directory per supervisor)."""
    root = tmp_path / processes.MULTIPROC_DIR_NAME
    first = processes.prepare_multiprocess_metrics(tmp_path, owner=os.getpid())  # a running supervisor
    (first / "counter_11.db").write_bytes(b"x")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (root / str(gone.pid)).mkdir()
    (root / str(gone.pid) / "counter_12.db").write_bytes(b"x")
    (root / "counter_13.db").write_bytes(b"x")  # the old layout's file
    second = processes.prepare_multiprocess_metrics(tmp_path, owner=gone.pid + 1_000_000)
    assert second == root / str(gone.pid + 1_000_000) and list(second.iterdir()) == []
    assert (first / "counter_11.db").exists()
    assert sorted(p.name for p in root.iterdir()) == sorted([str(os.getpid()), str(gone.pid + 1_000_000)])
    again = processes.prepare_multiprocess_metrics(tmp_path, owner=os.getpid())  # a restart empties its own
    assert again == first and list(first.iterdir()) == []
