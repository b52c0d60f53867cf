"""The bench's phase clock: every caller connects first, all start together, and the rate divides by the span
measured from the first call's start to the last call's end (not by the nominal phase length); the redeem phases
spend with and without the member's PIN."""

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
