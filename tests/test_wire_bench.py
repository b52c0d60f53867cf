"""`coalition bench wire`: every step answers, and the signed step really verifies and signs (a figure for a
server that skipped either would be a lie)."""

from __future__ import annotations

import multiprocessing as mp

import grpc
import pytest

from coalition import wire_bench
from coalition.bench import _wait_for_port
from network.ports import free_port
from partners import signing


def test_every_step_answers_with_its_figures():
    figures = wire_bench.run_wire_benchmark(seconds=0.3, concurrency=4)
    assert [row["step"] for row in figures["steps"]] == list(wire_bench.STEPS)
    for row in figures["steps"]:
        assert row["calls_per_s"] > 0 and row["server_cpu_ms_per_call"] > 0, row


@pytest.fixture(scope="module")
def signed_step():
    caller, network = signing.generate_private_key(), signing.generate_private_key()
    port = free_port()
    server = mp.get_context("spawn").Process(target=wire_bench._serve, daemon=True, args=(
        port, "signed", signing.raw_public(caller), signing.raw_private(network)))
    server.start()
    _wait_for_port(port)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel.unary_unary(wire_bench.METHOD), caller, network
    server.terminate()
    server.join(10)


def test_the_signed_step_verifies_the_request_and_signs_a_receipt(signed_step):
    call, caller, network = signed_step
    body = b"an earn's bytes"
    headers = signing.sign_request(caller, wire_bench.KEY_ID, wire_bench.METHOD, body).metadata()
    answer, state = call.with_call(body, metadata=headers, timeout=10)
    trailing = signing.collect_metadata(state.trailing_metadata())
    assert answer == body
    assert signing.verify_receipt(trailing, wire_bench.METHOD, body, answer,
                                  lambda key_id: network.public_key()) == wire_bench.NETWORK_KEY_ID
    with pytest.raises(grpc.RpcError):  # the same headers over other bytes: the signature does not match
        call(body + b"!", metadata=headers, timeout=10)
    stranger = signing.sign_request(signing.generate_private_key(), wire_bench.KEY_ID, wire_bench.METHOD, body)
    with pytest.raises(grpc.RpcError):
        call(body, metadata=stranger.metadata(), timeout=10)
