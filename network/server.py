"""The network server process: gRPC with signature verification, receipts, health checking and reflection."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
import threading
from datetime import timedelta
from concurrent import futures
from dataclasses import dataclass
from typing import Callable, Sequence

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from network import metrics
from network.database import Pinger, require_migrated
from network.grpc_service import MUTATING, PUBLIC, RECHECKED, SERVICE, NetworkServicer
from network.interceptor import Observer, RefusalObserver, SigningInterceptor
from network.event_feed import EventWakeups
from network.keys import KeyDirectory
from network.outage import WATCH_SECONDS, DatabaseOutage
from network.registration import ServiceRegistration
from network.signer import NetworkSigner
from network.settings import Settings
from network.store import partitions
from network.store.consent import ConsentPolicy
from network.store.ledger import build_ledger
from network.tls import server_credentials
from protos.coalition.v1 import network_pb2, network_pb2_grpc

log = logging.getLogger(__name__)


def _ensure_partitions(engine: Engine) -> None:
    """Create the partitions ahead (network.store.partitions) at start; another process starting at the same
    moment may create them first, and a busy table may refuse its lock in time: either way a warning, not a stop
    (housekeeping and `coalition ledger partitions` create them too, and the default partitions take every row)."""
    try:
        with engine.begin() as conn:
            created = partitions.ensure_partitions(conn, conn.execute(text("SELECT now()")).scalar_one())
        if created:
            log.info("partitions created: %s", ", ".join(created))
    except DBAPIError as exc:
        log.warning("partitions ahead not created at start (%s)", exc.orig)


SERVICE_NAMES = ("coalition.v1.NetworkService",)
SWITCH_INTERVAL_SECONDS = 0.001


def network_keys(engine: Engine):
    def load() -> list[network_pb2.NetworkKey]:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key_id, public_key, active FROM network_keys ORDER BY created_at"))
            return [network_pb2.NetworkKey(key_id=r.key_id, public_key=bytes(r.public_key), active=r.active) for r in rows]
    return load


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.HealthServicer
    _stop_health: threading.Event
    _loop: asyncio.AbstractEventLoop
    _loop_thread: threading.Thread
    _closers: tuple[Callable[[], None], ...] = ()

    def stop(self, grace: float = 2.0) -> None:
        self._stop_health.set()
        asyncio.run_coroutine_threadsafe(self.server.stop(grace), self._loop).result()
        _end_loop(self._loop, self._loop_thread)
        for close in self._closers:
            close()


class _GenericHandlersOnly:
    """Registers services with the server as generic handlers only, not as registered methods.

    grpc.aio's server keeps one pending request per registered method and, for every call it accepts, waits on
    all of them again (asyncio.wait over ~20 futures here); one generic handler per service is a dictionary
    lookup. Measured on a bare echo server with 21 methods: 0.236 against 0.217 ms of server CPU per call."""

    def __init__(self, server: grpc.aio.Server):
        self._server = server

    def add_generic_rpc_handlers(self, handlers) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers) -> None:
        """Served through the generic handler the same registration function adds."""


def _start_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """The server's event loop, in a thread of its own (its callers stay synchronous). uvloop: the event loop's
    own bookkeeping for every call (callbacks, futures, timers, the selector) runs in C rather than in Python;
    measured in the unary earn bench, ~6% less CPU on the loop thread."""
    loop = uvloop.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()
        loop.close()
    thread = threading.Thread(target=run, daemon=True, name="grpc-loop")
    thread.start()
    return loop, thread


async def _cancel_leftovers() -> None:
    """Tasks the stopped server left behind (calls cut off by the stop) end here rather than being destroyed
    pending when the loop closes."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _end_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    try:
        asyncio.run_coroutine_threadsafe(_cancel_leftovers(), loop).result(10)
    except Exception:  # noqa: BLE001 - stopping regardless: a leftover task is only noise at exit
        log.debug("leftover tasks did not end", exc_info=True)
    loop.call_soon_threadsafe(loop.stop)
    thread.join()


def _health_follows(engine: Engine, servicer: health.HealthServicer, names: Sequence[str]):
    """on_change for DatabaseOutage: every served name SERVING or NOT_SERVING; when the database is back, the
    pooled connections opened before it went away are dropped (each would fail its next call once)."""
    def set_all(serving: bool) -> None:
        if serving:
            engine.dispose()
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", *names):
            servicer.set(name, status)
    return set_all


def _watch_database(engine: Engine, outage: DatabaseOutage, stop: threading.Event) -> None:
    """gRPC health follows the database: a ping every WATCH_SECONDS, and at once when a call found a connection
    broken (network.outage.DatabaseOutage)."""
    pinger = Pinger(engine)  # its own connection: a busy pool is not an outage
    try:
        while not stop.is_set():
            outage.wait(WATCH_SECONDS)
            if stop.is_set():
                return
            if pinger.ping():
                outage.ping_succeeded()
            else:
                outage.ping_failed()
    finally:
        pinger.close()


def _chain(*hooks):
    """One hook calling each of `hooks` that is not None, in order."""
    present = [hook for hook in hooks if hook is not None]

    def call(*args) -> None:
        for hook in present:
            hook(*args)
    return call


def start_server(engine: Engine, settings: Settings, *, address: str | None = None,
                 signer: NetworkSigner | None = None, observe: Observer | None = None,
                 refused: RefusalObserver | None = None,
                 extra_services: Sequence[ServiceRegistration] = (), reuse_port: bool = False) -> RunningServer:
    """Start the server. Prometheus metrics are always counted (network.metrics), and `observe` / `refused`
    are called as well when given; /metrics is served over HTTP when settings.metrics_port > 0.
    reuse_port: listen with SO_REUSEPORT, sharing the port with the other processes of
    `network serve --processes N` (network.processes)."""
    require_migrated(engine)
    signer = signer or NetworkSigner.from_file(settings.resolved_network_key_file())
    signer.register(engine)
    ledger = build_ledger(engine, settings)
    ledger.ensure_shard_heads()
    _ensure_partitions(engine)
    ledger.contracts.follow_changes()  # contract changes committed anywhere empty this process's cache at once
    if ledger.programme is not None:
        ledger.programme.follow_changes()  # so do campaign and tier changes
    metrics.instrument_engine(engine)
    metrics.serve_http(settings.metrics_port, settings.metrics_address)
    limit = settings.grpc_max_message_bytes
    keys = KeyDirectory(engine)
    names = (*SERVICE_NAMES, *(s.name for s in extra_services))
    health_servicer = health.HealthServicer()
    outage = DatabaseOutage(_health_follows(engine, health_servicer, names), on_broken_connection=engine.dispose)
    wakeups = EventWakeups(engine)
    interceptor = SigningInterceptor(
        keys, signer, protected_prefixes=(SERVICE, *(f"/{s.name}/" for s in extra_services)),
        public_methods=PUBLIC, mutating_methods=MUTATING.union(*(s.mutating_methods for s in extra_services)),
        observe=_chain(metrics.observe_call, observe), refused=_chain(metrics.refused_signature, refused),
        rechecked_methods=RECHECKED, max_message_bytes=limit,
        client_certificates=settings.tls_client_ca_file is not None, outage=outage)
    servicer = NetworkServicer(engine, ledger, network_keys(engine),
                               earned=lambda n: metrics.count_ledger_transactions("earn", n),
                               group_linger_seconds=settings.earn_group_linger_ms / 1000,
                               commit_timeout_seconds=settings.earn_commit_timeout_seconds,
                               signer=signer, wakeups=wakeups, event_poll_seconds=settings.event_poll_seconds,
                               event_heartbeat_seconds=settings.event_heartbeat_seconds,
                               activation_code_ttl=timedelta(seconds=settings.member_activation_code_ttl_seconds),
                               consent_policy=ConsentPolicy.of(settings), spend_refused=metrics.refused_spend,
                               webhook_allow_http_localhost=settings.webhook_allow_http_localhost,
                               outbox_enabled=settings.outbox_enabled)
    bind = address or settings.grpc_address
    credentials = server_credentials(settings)  # None: plaintext

    async def build() -> tuple[grpc.aio.Server, int]:
        # grpc.aio: coroutine handlers (Earn) run on this loop; the others in the thread pool
        server = grpc.aio.server(
            futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix="grpc"),
            interceptors=[interceptor],
            options=[("grpc.max_receive_message_length", max(limit, settings.grpc_transport_max_message_bytes)),
                     ("grpc.max_send_message_length", limit),
                     ("grpc.so_reuseport", 1 if reuse_port else 0)])
        services = _GenericHandlersOnly(server)
        network_pb2_grpc.add_NetworkServiceServicer_to_server(servicer, services)
        for extra in extra_services:
            extra.register(services, signer)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, services)
        for name in ("", *names):
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(  # what enable_server_reflection does for aio
            reflection.aio.ReflectionServicer((*names, health.SERVICE_NAME, reflection.SERVICE_NAME)), services)
        port = server.add_secure_port(bind, credentials) if credentials else server.add_insecure_port(bind)
        if port == 0:
            raise RuntimeError(f"could not bind {bind}")
        await server.start()
        return server, port

    loop, loop_thread = _start_loop()
    try:
        server, port = asyncio.run_coroutine_threadsafe(build(), loop).result()
    except BaseException:
        _end_loop(loop, loop_thread)
        servicer.close()
        keys.close()
        ledger.contracts.close()
        if ledger.programme is not None:
            ledger.programme.close()
        wakeups.close()
        raise
    stop = threading.Event()
    threading.Thread(target=_watch_database, args=(engine, outage, stop), daemon=True,
                     name="health-db").start()
    log.info("network server listening on port %d (%s; network key %s)", port,
             "plaintext" if credentials is None else
             "mutual TLS" if settings.tls_client_ca_file is not None else "TLS", signer.key_id)
    return RunningServer(server, port, health_servicer, stop, loop, loop_thread, (servicer.close, keys.close,
                                                                                    ledger.contracts.close, wakeups.close,
                                                                                    *((ledger.programme.close,) if ledger.programme else ())))


def serve_forever(running: RunningServer) -> None:
    # Everything built at start-up lives as long as the process: freeze it out of the garbage collector's way, so a
    # full collection walks only what requests allocate. Measured in `coalition bench earn`: full collections
    # paused every thread for up to 78 ms (the p99 of unary earns); after freezing, under 1 ms.
    gc.collect()
    gc.freeze()
    # The earn writer thread gives up the GIL for every database round trip and must win it back from the busy
    # event loop; at the default 5 ms switch interval that wait dominated a commit. Measured in paired runs of
    # the unary bench: p99 45-48 ms at 1 ms against 46-55 ms at 5 ms, throughput no lower.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    running.stop()
