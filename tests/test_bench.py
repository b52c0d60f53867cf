"""The bench's phase clock: every caller connects first, all start together, and the rate divides by the span
measured from the first call's start to the last call's end (not by the nominal phase length)."""

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
