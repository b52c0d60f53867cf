"""The bench's phase clock: every caller connects first, all start together, and the rate divides by the span
measured from the first call's start to the last call's end (not by the nominal phase length); the redeem phases
spend with and without the member's PIN; the scaling command prints and writes its unary and batched rows."""

from __future__ import annotations

import multiprocessing as mp
from concurrent import futures

import grpc
import pytest

from coalition import bench


@pytest.fixture(scope="module")
def echo_target():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(lambda request, context: request)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(0)


def test_a_phase_divides_by_its_measured_span(echo_target):
    ctx = mp.get_context("spawn")
    with ctx.Pool(bench.CLIENT_PROCESSES) as pool, ctx.Manager() as manager:
        figures = bench._phase(pool, manager, "echo", echo_target, [], {}, concurrency=4, seconds=0.5)
    assert figures["calls"] > 0
    assert figures["span_s"] >= 0.5  # every caller ran its whole phase after the common start
    assert figures["per_second"] == pytest.approx(figures["calls"] / figures["span_s"], rel=1e-3)


def test_the_redeem_phases_spend_with_and_without_the_members_pin(make_partner, engine, target, member_pin):
    """`coalition bench earn`'s redeem and redeem-pin phases against the real server: every call counted is a
    Redeem the ledger wrote (none refused and counted); the PIN phase's at a partner that allows no unverified
    spend, so each one was verified by the member's PIN (no wrong try recorded); the other within the own-till
    limit; both phases' figures come out side by side."""
    from sqlalchemy import text

    from partners import signing

    shop = make_partner("bench-redeem", unverified_spend_limit_points=10)
    members = []
    with shop.client() as client:
        for _ in range(40):  # enough members that no one reaches the velocity limit in a short phase
            member = client.enroll_member().member.member_id
            client.earn(member, points=10_000)
            member_pin(member, bench.BENCH_PIN)
            members.append(member)
    far = make_partner("bench-far", unverified_spend_limit_points=0)  # only a verified spend goes through here
    ctx = mp.get_context("spawn")
    with ctx.Pool(bench.CLIENT_PROCESSES) as pool, ctx.Manager() as manager:
        figures = {mode: bench._phase(pool, manager, mode, target,
                                      [(p.partner_id, p.key_id, signing.raw_private(p.private_key))],
                                      {p.partner_id: members}, concurrency=2, seconds=0.3)
                   for mode, p in (("redeem", shop), ("redeem-pin", far))}
    with engine.connect() as conn:
        redeemed = dict(conn.execute(text("SELECT partner_id, count(*) FROM journal WHERE partner_id IN (:a, :b) "
                                          "AND kind = 'redeem' GROUP BY partner_id"),
                                     {"a": shop.partner_id, "b": far.partner_id}).all())
        failures = conn.execute(text("SELECT count(*) FROM verification_failures WHERE member_id::text = ANY(:m)"),
                                {"m": members}).scalar_one()
    assert figures["redeem"]["calls"] > 0 and figures["redeem-pin"]["calls"] > 0
    assert redeemed == {shop.partner_id: figures["redeem"]["calls"], far.partner_id: figures["redeem-pin"]["calls"]}
    assert failures == 0
    assert all(f["p99_ms"] > 0 for f in figures.values())


def test_the_scaling_command_prints_and_writes_the_batched_rows(cli, monkeypatch, tmp_path):
    """`bench earn --processes` passes the batch callers on, prints the unary and the batched table and writes the
    figures as JSON (the run itself is replaced: it takes minutes)."""
    import json

    import coalition.cli

    asked = {}
    row = {"processes": 2, "earns_per_s": 1049.2, "earn_p99_ms": 58.3, "echo_calls_per_s": 6316.2, "echo_p99_ms": 12.9,
           "ratio_to_echo": 0.166, "server_cpu_ms_per_earn": 0.85, "postgres_cpu_ms_per_earn": 0.365,
           "clients_cpu_ms_per_earn": 0.491, "batch_callers": 6, "batch_earns_per_s": 15457.5, "batch_p99_ms": 204.7,
           "batch_server_cpu_ms_per_earn": 0.067, "batch_postgres_cpu_ms_per_earn": 0.042,
           "batch_clients_cpu_ms_per_earn": 0.008}
    figures = {"rows": [row], "concurrency": 32, "cpu_count": 2, "load_average_before": "0.1",
               "load_average_after": "0.2"}

    def scaling(counts, **kwargs):
        asked.update(counts=counts, **kwargs)
        return figures
    monkeypatch.setattr(coalition.cli, "run_earn_scaling", scaling)
    out = tmp_path / "scaling.json"
    result = cli("bench", "earn", "--processes", "1,2", "--batch-callers", "6", "--seconds", "1", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert asked == {"counts": [1, 2], "seconds": 1.0, "concurrency": 32, "batch_callers": 6}
    assert "signed unary earns by server processes" in result.output and "1,049.2" in result.output
    assert "batched earns (BatchEarn of 500)" in result.output and "15,457.5" in result.output
    assert json.loads(out.read_text()) == figures


def test_the_verify_figures_take_the_servers_shares_with_libsodium_and_give_the_sdks_cost(tmp_path):
    """The server and the SDK both use libsodium (partners.sodium): the shares of the server's CPU per earn are
    libsodium's figures over it, and the SDK's cost per signed call is its sign plus one verify, per library."""
    earn = tmp_path / "earn.json"
    earn.write_text('{"unary_server_cpu_ms_per_item": 0.5}')
    figures = bench.run_verify_benchmark(iterations=50, earn_figures=earn)
    assert figures["verify_share_of_server_cpu"] == round(figures["pynacl_verify_request_us"] / 1000 / 0.5, 3)
    assert figures["verify_and_receipt_share_of_server_cpu"] == round(
        (figures["pynacl_verify_request_us"] + figures["pynacl_sign_us"]) / 1000 / 0.5, 3)
    for library in ("cryptography", "pynacl"):
        assert figures[f"sdk_sign_and_receipt_{library}_us"] == round(
            figures[f"{library}_sign_us"] + figures[f"{library}_verify_us"], 2)
    assert figures["server_uses"].startswith("pynacl") and figures["sdk_uses"].startswith("pynacl")


def test_the_load_at_start_is_read_before_the_run_and_the_load_at_end_after_it(monkeypatch):
    """The earn and campaign benchmarks (bench._with_load): "at start" was once read while the result was assembled,
    after the run, where the run's own load had become the figure."""
    happened: list[str] = []

    def load_average() -> str:
        happened.append("load")
        return f"load {len(happened)}"

    def run() -> dict:
        happened.append("run")
        return {"earns_per_s": 1.0}
    monkeypatch.setattr(bench, "load_average", load_average)
    assert bench._with_load(run) == {"earns_per_s": 1.0, "load_average_at_start": "load 1",
                                     "load_average_at_end": "load 3"}
    assert happened == ["load", "run", "load"]


def test_a_phases_cpu_figures_are_named_per_earn_for_the_scaling_rows():
    phase = {"per_second": 10.0, "span_s": 1.0, "server_cpu_ms_per_item": 0.5, "postgres_cpu_ms_per_item": 0.2,
             "clients_cpu_ms_per_item": 0.3}
    assert bench._cpu_per_earn(phase) == {"server_cpu_ms_per_earn": 0.5, "postgres_cpu_ms_per_earn": 0.2,
                                          "clients_cpu_ms_per_earn": 0.3}
    assert bench._cpu_per_earn(phase, "batch_") == {"batch_server_cpu_ms_per_earn": 0.5,
                                                    "batch_postgres_cpu_ms_per_earn": 0.2,
                                                    "batch_clients_cpu_ms_per_earn": 0.3}
