"""`coalition bench wire`: what one signed unary call costs the server before the ledger does anything.

We aimed at 0.25 ms of server CPU per signed unary earn. This bench builds the server's wire up step by step on
grpc.aio (as `network.server` runs it: uvloop, one process, no database) and prints the server's CPU per call at
each step, so that the part of an earn's cost that is the wire, and the part that is the ledger, can be told
apart. Each step adds to the one before:
  bare         an async handler that returns the request bytes
  metadata     the caller sends the four coalition-sig-v1 headers, the handler reads them and sets a receipt's two
               trailing headers (fixed values)
  interceptor  a grpc.aio ServerInterceptor wraps the handler, as network.interceptor.SigningInterceptor does
  hop          the handler awaits a writer thread that wakes each group's callers with one callback on the loop
               (network.group_commit's shape); the writer sleeps 0.3 ms per group for the database round trip
  signed       the request's signature is verified (partners.signing.verify_request with libsodium, as the
               server does) and the receipt is signed over the request and response bytes (partners.sodium)
The callers are the same in every step: CLIENT_PROCESSES processes of threads with synchronous channels, every
caller connected and answered once before the common start; from `metadata` on they send one request signed
once beforehand (the server verifies it on every call all the same). `coalition bench earn` gives the real
earn's figure to set against the last step.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import threading
import time
from typing import Sequence

import grpc
import psutil

from coalition.bench import CHANNEL_OPTIONS, CLIENT_PROCESSES, _wait_for_port
from network.ports import free_port
from partners import signing, sodium

STEPS = ("bare", "metadata", "interceptor", "hop", "signed")
METHOD = "/bench.Wire/Call"
KEY_ID = "wire-k1"
NETWORK_KEY_ID = "network-wire"
DATABASE_ROUND_TRIP_SECONDS = 0.0003


def _serve(port: int, step: str, caller_public: bytes, network_seed: bytes) -> None:
    """One grpc.aio server with everything up to `step` (STEPS order)."""
    import uvloop

    level = STEPS.index(step)
    verify_key = sodium.SodiumVerifyKey(caller_public)
    network_key = sodium.SodiumSigningKey(signing.private_key_from_raw(network_seed))
    waiting: queue.Queue = queue.Queue()

    def writer() -> None:
        while True:
            group = [waiting.get()]
            while True:
                try:
                    group.append(waiting.get_nowait())
                except queue.Empty:
                    break
            time.sleep(DATABASE_ROUND_TRIP_SECONDS)
            group[0][1].call_soon_threadsafe(_wake, group)

    threading.Thread(target=writer, daemon=True).start()

    async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        if level >= STEPS.index("hop"):
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            waiting.put((future, loop, request))
            request = await future
        if level >= STEPS.index("metadata"):
            metadata = signing.collect_metadata(context.invocation_metadata())
            if level >= STEPS.index("signed"):
                signing.verify_request(metadata, METHOD, request, lambda key_id: verify_key)
                receipt = signing.sign_response(network_key, NETWORK_KEY_ID, METHOD, request, request)
            else:
                receipt = ((signing.KEY_ID_HEADER, NETWORK_KEY_ID), (signing.SIGNATURE_HEADER, "A" * 88))
            context.set_trailing_metadata(receipt)
        return request

    class Wrapping(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, details):
            handler = await continuation(details)
            if handler is None or handler.unary_unary is None:
                return handler
            inner = handler.unary_unary

            async def wrapped(request, context):
                return await inner(request, context)
            return grpc.unary_unary_rpc_method_handler(wrapped)

    async def main() -> None:
        interceptors = [Wrapping()] if level >= STEPS.index("interceptor") else None
        server = grpc.aio.server(interceptors=interceptors, options=[("grpc.so_reuseport", 0)])
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "bench.Wire", {"Call": grpc.unary_unary_rpc_method_handler(handle)}),))
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    uvloop.run(main())


def _wake(group: list) -> None:
    for future, _loop, value in group:
        if not future.done():
            future.set_result(value)


def _call(args: tuple) -> tuple[int, float]:
    """One client process: `threads` callers for `seconds` after the common start. Returns (calls, CPU seconds)."""
    port, metadata, threads, seconds, ready, go = args
    body = os.urandom(120) if metadata is None else metadata[1]
    headers = None if metadata is None else metadata[0]
    counts = [0] * threads
    started: list[float] = []  # this process's CPU clock when its first caller starts (connecting is not counted)
    lock = threading.Lock()

    def caller(index: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel:
            call = channel.unary_unary(METHOD)
            call(body, timeout=30, metadata=headers)
            ready.put(1)
            go.wait()
            with lock:
                if not started:
                    started.append(time.process_time())
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                call.with_call(body, timeout=10, metadata=headers)
                counts[index] += 1

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts), time.process_time() - started[0]


def run_wire_benchmark(seconds: float = 8.0, concurrency: int = 32, steps: Sequence[str] = STEPS) -> dict:
    caller_key, network_key = signing.generate_private_key(), signing.generate_private_key()
    body = os.urandom(120)
    signed = signing.sign_request(caller_key, KEY_ID, METHOD, body)  # fresh for FRESHNESS_SECONDS: enough
    headers = signed.metadata()
    ctx = mp.get_context("spawn")
    rows = []
    per_process = max(1, concurrency // CLIENT_PROCESSES)
    with ctx.Pool(CLIENT_PROCESSES) as pool, ctx.Manager() as manager:
        for step in steps:
            port = free_port()
            server = ctx.Process(target=_serve, args=(port, step, signing.raw_public(caller_key),
                                                      signing.raw_private(network_key)), daemon=True)
            server.start()
            try:
                _wait_for_port(port)
                ready, go = manager.Queue(), manager.Event()
                metadata = None if step == "bare" else (headers, body)
                pending = pool.map_async(_call, [(port, metadata, per_process, seconds, ready, go)] * CLIENT_PROCESSES)
                for _ in range(per_process * CLIENT_PROCESSES):
                    ready.get(timeout=120)
                process = psutil.Process(server.pid)
                before, started = process.cpu_times(), time.perf_counter()
                go.set()
                results = pending.get()
                after, span = process.cpu_times(), time.perf_counter() - started
            finally:
                server.terminate()
                server.join(10)
            calls = sum(r[0] for r in results)
            server_seconds = (after.user + after.system) - (before.user + before.system)
            rows.append({"step": step, "calls_per_s": round(calls / span, 1),
                         "server_cpu_ms_per_call": round(server_seconds * 1000 / max(calls, 1), 4),
                         "clients_cpu_ms_per_call": round(sum(r[1] for r in results) * 1000 / max(calls, 1), 4)})
    return {"seconds": seconds, "concurrency": concurrency,
            "database_round_trip_ms": DATABASE_ROUND_TRIP_SECONDS * 1000,
            "steps": rows}
