"""`coalition bench earn`: signed earns through the partner SDK against a network server in its own process.

Set-up: a fresh embedded PostgreSQL, 50 partners with keys, members enrolled across them, the server started
as `coalition network serve --processes 1` in a subprocess, load from separate client processes (so the client's own
interpreter does not share the server's GIL). In each phase every caller connects and is answered once, then all
start together; the rate divides by the measured span from the first call's start to the last call's end. Phases,
each `seconds` long:
  echo        a bare gRPC echo server (raw bytes, no signing, no database): the ceiling on this machine
  unary-50    signed unary earns at `concurrency` callers, traffic spread over 50 partners
  unary-1     the same, every call from one partner
  watched     unary-1 again, with a WatchEvents stream of that partner open in this process: event latency is from
              the event's transaction (its occurred_at) to the event received here, p50 and p99
  batch       BatchEarn calls of 500 items
  redeem      signed unary Redeems of 1 point by the members' own tills, without a member verification (the
              contract's unverified limit), over PIN_PARTNERS partners
  redeem-pin  the same Redeems carrying the member's PIN: one scrypt verification each, at the settings' cost
              (the figures name N, r, p and one hash's time here); the server runs with velocity limits off
  outbox      unary-50 against two more server processes on the same database, started together and used for
              these phases only, alike but for COALITION_OUTBOX_ENABLED (a bench knob: false leaves the outbox
              statement out of the earn path), so that nothing but the outbox tells them apart (not what the main
              server served before, nor its memory), in `pairs` pairs ordered on, off, off, on, ... (ABBA: drift
              weighs on both sides alike):
              `outbox_on_to_off_ratio` is the sum of the "on" rates over the sum of the "off" rates (target >= 0.9);
              each phase's rate and CPU per earn are listed
  latency     one partner earning one point every 20 ms for `latency_events` earns, with a WatchEvents stream open
              and a webhook endpoint registered: latency from the event's transaction (occurred_at) to the event
              received on the stream, and to the webhook received by a local HTTP receiver that the bench starts,
              delivered by a real `coalition webhooks worker` on an embedded Temporal dev server; p50 and p99
The server's resident memory is sampled throughout; the peak is reported. Every earn writes its event to the
outbox in its commit: every figure but the "off" phases includes it (the watched phase also the signing and
streaming of each event).

`coalition bench earn --processes 1,2,...` (run_earn_scaling) instead runs echo and unary-50 against N server
processes and N echo processes for each N, then batch against the same N server processes (at least two callers
per process), in one run: the scaling tables.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent import futures
from contextlib import contextmanager
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator, Sequence

import grpc
import psutil
from sqlalchemy import text

from network import admin, webhooks
from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder, Tier
from network.database import EmbeddedPostgres, make_engine, migrate
from network.ports import free_port
from network.core.results import EarnItem
from network.store import credentials as credentials_store
from network.store.campaigns import create_campaign, set_campaign_status, set_tier
from network.store.credentials import ScryptParams, pin_hash
from network.store.ledger import build_ledger
from network.settings import Settings
from partners import signing, sodium
from partners.client import DEFAULT_CHANNEL_OPTIONS, PartnerClient
from partners.errors import CoalitionError
from partners.signing import private_key_from_raw
from protos.coalition.v1 import network_pb2
from settlement.temporal_runtime import start_dev_server

CLIENT_PROCESSES = 2
BATCH_SIZE = 500
# Concurrent callers of the two spend phases (at most): tills spend far less often than they earn, and 32 callers
# each asking for a scrypt verification (16 MiB, tens of ms of CPU) on 2 cores ran past the SDK's 10 s deadline.
SPEND_CONCURRENCY = 8
PIN_PARTNERS = 4  # partners whose members get a PIN (scrypt at the settings' cost each) and points to redeem
BENCH_PIN = "2580"
# The bench server's settings: no velocity limit (every caller redeems for the same members, many times a minute).
VELOCITY_OFF = {"COALITION_MEMBER_SPENDS_PER_HOUR": "0", "COALITION_MEMBER_SPENDS_PER_DAY": "0",
                "COALITION_PARTNER_REDEMPTIONS_PER_MINUTE": "0"}
LATENCY_INTERVAL_SECONDS = 0.02


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=1)
                return
            except grpc.FutureTimeoutError:
                continue
    raise TimeoutError(f"nothing listens on port {port}")


def _echo_server(port: int, reuse_port: bool = False) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.so_reuseport", 1 if reuse_port else 0)])
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(lambda request, context: request)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


# One connection per caller: gRPC otherwise shares one subchannel (one TCP connection) among a process's channels
# to the same target, and SO_REUSEPORT spreads connections, not calls, over the server's processes.
CHANNEL_OPTIONS = (("grpc.use_local_subchannel_pool", 1),)


def _load(args: tuple) -> tuple[int, list[float], float, float]:
    """One client process: `threads` callers, each connected (and one call answered) before the common start
    `go`; they loop for `seconds` from then. Returns (items, latencies, first call's start, last call's end)."""
    mode, target, credentials, members, threads, seconds, ready, go = args
    latencies: list[float] = []
    counts = [0] * threads
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def caller(index: int) -> None:
        local: list[float] = []
        if mode == "echo":
            channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
            echo = channel.unary_unary("/bench.Echo/Echo")
            body = os.urandom(120)
            call = lambda n: (echo(body, timeout=10), 1)[1]
        else:
            partner_id, key_id, raw = credentials[index % len(credentials)]
            client = PartnerClient(target, key_id, private_key_from_raw(raw), timeout=10,
                                   channel_options=(*DEFAULT_CHANNEL_OPTIONS, *CHANNEL_OPTIONS))
            my_members = members[partner_id]
            if mode in ("redeem", "redeem-pin"):
                pin = BENCH_PIN if mode == "redeem-pin" else None
                call = lambda n: (client.redeem(my_members[(n + index) % len(my_members)], 1, pin=pin), 1)[1]
            elif mode == "batch":
                call = lambda n: (client.batch_earn([{"member_id": my_members[(n + i) % len(my_members)], "points": 1}
                                                     for i in range(BATCH_SIZE)]), BATCH_SIZE)[1]
            else:
                call = lambda n: (client.earn(my_members[n % len(my_members)], amount_minor=250 + n % 1000,
                                              terminal_id=f"t{index}"), 1)[1]
        if mode == "echo":
            echo(body, timeout=30)  # connected
        else:
            client.get_network_keys()  # connected, and the network keys that verify receipts fetched
        ready.put(1)
        go.wait()
        first = time.time()  # wall clock: the spans of the client processes are compared
        deadline = time.perf_counter() + seconds
        n = 0
        while True:
            started = time.perf_counter()
            if started >= deadline:
                break
            counts[index] += call(n)
            local.append(time.perf_counter() - started)
            n += 1
        last = time.time()
        if mode == "echo":
            channel.close()
        else:
            client.close()
        with lock:
            latencies.extend(local)
            spans.append((first, last))

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts), latencies, min(s[0] for s in spans), max(s[1] for s in spans)


class _EventLatency:
    """A WatchEvents stream of one partner from its current high-water mark: seconds from each event's
    occurred_at (its transaction's time) to its arrival here."""

    def __init__(self, target: str, credentials: tuple[str, str, bytes]):
        _, key_id, raw = credentials
        self._client = PartnerClient(target, key_id, private_key_from_raw(raw), timeout=10)
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="bench-events")

    def __enter__(self) -> "_EventLatency":
        pages = list(self._client.list_event_pages(page_size=1))
        self._after = pages[0].high_water_sequence if pages else 0
        self._thread.start()
        return self

    def _watch(self) -> None:
        stream = self._client.watch_events(self._after, heartbeats=True)
        try:
            for item in stream:
                if self._stop.is_set():
                    return
                if isinstance(item, network_pb2.Event):
                    occurred = item.occurred_at.seconds + item.occurred_at.nanos / 1e9
                    self.latencies.append(time.time() - occurred)
        except CoalitionError:
            if not self._stop.is_set():  # the stream ends when the client closes at the end of the phase
                raise
        finally:
            stream.close()

    def __exit__(self, *exc_info: object) -> None:
        time.sleep(1.0)  # the last commits' events
        self._stop.set()
        self._client.close()
        self._thread.join(5)

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else 0.0


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def _postgres_processes(data_dir: Path) -> list[psutil.Process]:
    """The bench's own PostgreSQL: the postmaster of `data_dir` and its backends (not other servers on the box)."""
    try:
        return _with_children(int((data_dir / "postmaster.pid").read_text().split()[0]))
    except (OSError, ValueError, psutil.Error):
        return []


def _with_children(pid: int) -> list[psutil.Process]:
    """A process and its children (the supervisor of `network serve --processes N` and its server processes)."""
    proc = psutil.Process(pid)
    return [proc, *proc.children(recursive=True)]


def _phase(pool, manager, mode: str, target: str, credentials, members, concurrency: int, seconds: float,
           watched: dict[str, Callable[[], list[psutil.Process]]] | None = None) -> dict:
    """One phase: every caller connects, then all start together; the rate divides by the measured span from
    the first call's start to the last call's end (not by `seconds`), and CPU is counted over that span too."""
    per_process = max(1, concurrency // CLIENT_PROCESSES)
    ready, go = manager.Queue(), manager.Event()
    jobs = []
    for p in range(CLIENT_PROCESSES):
        creds = credentials[p::CLIENT_PROCESSES] if len(credentials) >= CLIENT_PROCESSES else credentials
        jobs.append((mode, target, creds, members, per_process, seconds, ready, go))
    pending = pool.map_async(_load, jobs)
    for _ in range(per_process * CLIENT_PROCESSES):  # every caller connected and answered once
        ready.get(timeout=120)
    groups = {name: find() for name, find in (watched or {}).items()}
    before = {name: _cpu_seconds(procs) for name, procs in groups.items()}
    go.set()
    results = pending.get()
    cpu = {name: _cpu_seconds(procs) - before[name] for name, procs in groups.items()}
    total = sum(r[0] for r in results)
    span = max(r[3] for r in results) - min(r[2] for r in results)
    latencies = sorted(x for r in results for x in r[1])
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
    figures = {"per_second": total / span, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "calls": len(latencies),
               "span_s": round(span, 3)}
    for name, seconds_used in cpu.items():  # CPU milliseconds per item, by process group
        figures[f"{name}_cpu_ms_per_item"] = round(seconds_used * 1000 / max(total, 1), 3)
    return figures


def _seed(url: str, partners: int, members_per_partner: int) -> tuple[list, dict]:
    engine = make_engine(url)
    ledger = build_ledger(engine, Settings(ledger_shards=64))
    ledger.ensure_shard_heads()
    credentials, members = [], {}
    with engine.begin() as conn:
        for i in range(partners):
            partner_id = f"bench{i:02d}"
            admin.create_partner(conn, "bench", partner_id, f"Bench partner {i}")
            admin.set_contract(conn, "bench", partner_id, admin.ContractDraft(earn_points_per_major=1,
                                                                              unverified_spend_limit_points=10))
            key = signing.generate_private_key()
            admin.register_key(conn, "bench", partner_id, f"{partner_id}-k1",
                               base64.b64encode(signing.raw_public(key)).decode())
            credentials.append((partner_id, f"{partner_id}-k1", signing.raw_private(key)))
            members[partner_id] = [ledger.enroll_member(conn, partner_id, "", "")[0].member_id
                                   for _ in range(members_per_partner)]
    with engine.begin() as conn:  # the redeem phases' members: points, and a PIN at the settings' scrypt cost
        spenders = [(c[0], m) for c in credentials[:PIN_PARTNERS] for m in members[c[0]]]
        ledger.earn_batch(conn, [(p, EarnItem(f"seed-{m}", m, None, None, 10_000_000)) for p, m in spenders])
        for _, member in spenders:
            credentials_store.set_pin(conn, member, BENCH_PIN)
    engine.dispose()
    return credentials, members


@contextmanager
def _database(partners: int = 50, members_per_partner: int = 40) -> Iterator[tuple[Path, str, list, dict]]:
    """A fresh embedded PostgreSQL, migrated and seeded: (workdir, url, credentials, members)."""
    workdir = Path(tempfile.mkdtemp(prefix="coalition-bench-"))
    pg = EmbeddedPostgres(workdir / "postgres", cleanup_mode="delete")
    try:
        migrate(pg.url)
        credentials, members = _seed(pg.url, partners=partners, members_per_partner=members_per_partner)
        yield workdir, pg.url, credentials, members
    finally:
        pg.stop()


def _serve(workdir: Path, url: str, processes: int, port: int, **env: str) -> subprocess.Popen:
    """`coalition network serve --processes N` on 127.0.0.1:`port` as the bench runs it (velocity limits off),
    with `env` added to its environment."""
    return subprocess.Popen([sys.executable, "-m", "coalition.cli", "network", "serve", "--processes", str(processes),
                             "--address", f"127.0.0.1:{port}"],
                            env={**os.environ, "DATABASE_URL": url, "COALITION_DATA_DIR": str(workdir),
                                 "COALITION_LOG_LEVEL": "WARNING", **VELOCITY_OFF, **env})


@contextmanager
def _servers(workdir: Path, url: str, processes: int) -> Iterator[tuple[int, int, subprocess.Popen]]:
    """The network server (`network serve --processes N`) and the bare echo server, N SO_REUSEPORT processes
    each: (port, echo port, server process)."""
    port, echo_port = free_port(), free_port()
    server = _serve(workdir, url, processes, port)
    ctx = mp.get_context("spawn")
    echoes = [ctx.Process(target=_echo_server, args=(echo_port, processes > 1), daemon=True) for _ in range(processes)]
    for echo in echoes:
        echo.start()
    try:
        _wait_for_port(port)
        _wait_for_port(echo_port)
        time.sleep(2.0 if processes > 1 else 0.0)  # the other processes are listening too, not only the first
        yield port, echo_port, server
    finally:
        server.terminate()
        server.wait(60)
        for echo in echoes:
            echo.terminate()
            echo.join(10)


def _quiesce(url: str) -> None:
    """VACUUM (ANALYZE) and CHECKPOINT the bench's database now, so that what the phases before wrote is not
    vacuumed, analysed or flushed during the next ones: measured, the first phase after the BatchEarn phase ran
    10-30 % slower than the rest, whichever side of a pair it was."""
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
            conn.execute(text("CHECKPOINT"))
    finally:
        engine.dispose()


def _abba(pairs: int, a: str, b: str) -> list[str]:
    """`pairs` pairs of phase kinds ordered a, b, b, a, a, b, ...: a drift of the machine's load or of the tables'
    size over the run weighs on both sides alike."""
    return [kind for p in range(pairs) for kind in ((a, b) if p % 2 == 0 else (b, a))]


@contextmanager
def _outbox_server(workdir: Path, url: str, outbox: bool) -> Iterator[tuple[int, subprocess.Popen]]:
    """A server process of the outbox pairs on the same database, configured as _servers' (velocity limits off),
    with the outbox in the earn path or left out (COALITION_OUTBOX_ENABLED=false): (port, process)."""
    port = free_port()
    server = _serve(workdir, url, 1, port, COALITION_OUTBOX_ENABLED="true" if outbox else "false")
    try:
        _wait_for_port(port)
        yield port, server
    finally:
        server.terminate()
        server.wait(60)


class _WebhookReceiver:
    """A local HTTP receiver: seconds from each webhook's event occurred_at to its arrival, once per webhook-id."""

    def __init__(self) -> None:
        self.latencies: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                arrived = time.time()
                occurred = datetime.fromisoformat(json.loads(body)["data"]["occurred_at"]).timestamp()
                receiver.latencies.setdefault(self.headers["webhook-id"], arrived - occurred)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/webhooks"
        threading.Thread(target=self._server.serve_forever, daemon=True, name="bench-webhooks").start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def percentile_ms(self, q: float) -> float:
        ordered = sorted(self.latencies.values())
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2) if ordered else 0.0


@contextmanager
def _webhook_delivery(workdir: Path, url: str, partner_id: str) -> Iterator[_WebhookReceiver]:
    """An embedded Temporal dev server, `coalition webhooks worker` and a receiver registered for `partner_id`."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="bench-temporal").start()
    temporal = asyncio.run_coroutine_threadsafe(start_dev_server(), loop).result(120)
    receiver = _WebhookReceiver()
    engine = make_engine(url)
    with engine.begin() as conn:
        webhooks.create(conn, partner_id, receiver.url, [], allow_http_localhost=True)
    engine.dispose()
    env = {**os.environ, "DATABASE_URL": url, "COALITION_DATA_DIR": str(workdir), "COALITION_LOG_LEVEL": "WARNING",
           "TEMPORAL_ADDRESS": temporal.client.service_client.config.target_host}
    worker = subprocess.Popen([sys.executable, "-m", "coalition.cli", "webhooks", "worker"], env=env)
    try:
        yield receiver
    finally:
        worker.terminate()
        worker.wait(60)
        receiver.close()
        asyncio.run_coroutine_threadsafe(temporal.shutdown(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)


def _latency_phase(target: str, credentials: tuple[str, str, bytes], members: dict, receiver: _WebhookReceiver,
                   count: int) -> "_EventLatency":
    """`count` earns of one point, one every LATENCY_INTERVAL_SECONDS, while WatchEvents and the webhook receiver
    time their events; waits (up to a minute) for the last webhook."""
    partner_id, key_id, raw = credentials
    member_id = members[partner_id][0]
    with PartnerClient(target, key_id, private_key_from_raw(raw), timeout=10) as client:
        client.earn(member_id, points=1)  # the worker's first delivery: Temporal connected, the workflow running
        deadline = time.monotonic() + 120
        while not receiver.latencies and time.monotonic() < deadline:
            time.sleep(0.1)
        receiver.latencies.clear()
        with _EventLatency(target, credentials) as watched:
            for _ in range(count):
                client.earn(member_id, points=1)
                time.sleep(LATENCY_INTERVAL_SECONDS)
            deadline = time.monotonic() + 60
            while len(receiver.latencies) < count and time.monotonic() < deadline:
                time.sleep(0.1)
    return watched


def _client_pool():
    ctx = mp.get_context("spawn")
    return ctx.Pool(CLIENT_PROCESSES), ctx.Manager()


def _with_load(run: Callable[[], dict]) -> dict:
    """`run()`'s figures with the machine's load averages taken before it started and after it ended: what else
    ran at the start, and how hard the run itself worked the machine."""
    before = load_average()
    figures = run()
    return {**figures, "load_average_at_start": before, "load_average_at_end": load_average()}


def run_earn_benchmark(seconds: float = 10.0, concurrency: int = 32, batch_callers: int = 4,
                       latency_events: int = 300, pairs: int = 4) -> dict:
    """The single-process server's figures (the scale-out table's), with the phase clock measured; the outbox
    on/off pairs and the event latencies (stream and webhook)."""
    return _with_load(lambda: _earn_benchmark(seconds, concurrency, batch_callers, latency_events, pairs))


def _earn_benchmark(seconds: float, concurrency: int, batch_callers: int, latency_events: int, pairs: int) -> dict:
    with _database() as (workdir, url, credentials, members), _servers(workdir, url, 1) as (port, echo_port, server), \
            _outbox_server(workdir, url, True) as (on_port, on_server), \
            _outbox_server(workdir, url, False) as (off_port, off_server):
        peak_rss = 0
        sampling = threading.Event()

        def sample() -> None:
            nonlocal peak_rss
            proc = psutil.Process(server.pid)
            while not sampling.wait(0.2):
                try:
                    peak_rss = max(peak_rss, sum(p.memory_info().rss for p in _with_children(proc.pid)))
                except psutil.Error:
                    return

        threading.Thread(target=sample, daemon=True).start()
        target = f"127.0.0.1:{port}"
        pool, manager = _client_pool()
        with pool, manager:
            watched = {"server": lambda: _with_children(server.pid), "postgres": lambda: _postgres_processes(workdir / "postgres"),
                       "clients": lambda: [psutil.Process(c.pid) for c in pool._pool]}
            ceiling = _phase(pool, manager, "echo", f"127.0.0.1:{echo_port}", credentials, members, concurrency,
                             seconds)
            _phase(pool, manager, "unary", target, credentials, members, concurrency, min(3.0, seconds))  # warm-up
            fifty = _phase(pool, manager, "unary", target, credentials, members, concurrency, seconds, watched)
            one = _phase(pool, manager, "unary", target, credentials[:1], members, concurrency, seconds)
            with _EventLatency(target, credentials[0]) as event_latency:
                watched_one = _phase(pool, manager, "unary", target, credentials[:1], members, concurrency, seconds)
            batch = _phase(pool, manager, "batch", target, credentials, members, batch_callers, seconds, watched)
            outbox: list[tuple[str, dict]] = []  # (on or off, the phase's figures) in the order run
            _quiesce(url)  # not the first pair's phase that meets the autovacuum of what the phases above wrote
            for warm in (on_port, off_port):  # each pair server warmed up as the main one was
                _phase(pool, manager, "unary", f"127.0.0.1:{warm}", credentials, members, concurrency,
                       min(3.0, seconds))
            for kind in _abba(pairs, "on", "off"):
                port_of, server_of = (on_port, on_server) if kind == "on" else (off_port, off_server)
                outbox.append((kind, _phase(
                    pool, manager, "unary", f"127.0.0.1:{port_of}", credentials, members, concurrency, seconds,
                    {"server": lambda s=server_of: _with_children(s.pid), "postgres": watched["postgres"]})))
            spenders = credentials[:PIN_PARTNERS]
            spending = min(concurrency, SPEND_CONCURRENCY)  # both spend phases alike: paired at one concurrency
            unverified = _phase(pool, manager, "redeem", target, spenders, members, spending, seconds, watched)
            verified = _phase(pool, manager, "redeem-pin", target, spenders, members, spending, seconds, watched)
        sampling.set()
        with _webhook_delivery(workdir, url, credentials[1][0]) as receiver:
            latency = _latency_phase(target, credentials[1], members, receiver, latency_events)
            webhook_p50, webhook_p99 = receiver.percentile_ms(0.50), receiver.percentile_ms(0.99)
            webhooks_received = len(receiver.latencies)
    params = ScryptParams.of(Settings())
    hash_ms = _pin_hash_ms(params)
    on_rate, off_rate = (sum(p["per_second"] for k, p in outbox if k == kind) for kind in ("on", "off"))
    return {
        "unary_earns_per_s_50_partners": round(fifty["per_second"], 1),
        "unary_p50_ms": round(fifty["p50_ms"], 2),
        "unary_p99_ms": round(fifty["p99_ms"], 2),
        "unary_earns_per_s_1_partner": round(one["per_second"], 1),
        "unary_1_partner_p99_ms": round(one["p99_ms"], 2),
        "one_to_fifty_partner_ratio": round(one["per_second"] / fifty["per_second"], 3),
        "unary_earns_per_s_1_partner_watched": round(watched_one["per_second"], 1),
        "event_latency_p50_ms": event_latency.percentile_ms(0.50),
        "event_latency_p99_ms": event_latency.percentile_ms(0.99),
        "events_watched": len(event_latency.latencies),
        "outbox_on_earns_per_s": round(on_rate / pairs, 1),
        "outbox_off_earns_per_s": round(off_rate / pairs, 1),
        "outbox_on_to_off_ratio": round(on_rate / off_rate, 3),
        "outbox_pairs": pairs,
        "outbox_phases": [f"{kind} {p['per_second']:.1f}/s, CPU ms per earn: server {p['server_cpu_ms_per_item']}, "
                          f"postgres {p['postgres_cpu_ms_per_item']}"
                          for kind, p in outbox],
        "latency_events": latency_events,
        "commit_to_watch_p50_ms": latency.percentile_ms(0.50),
        "commit_to_watch_p99_ms": latency.percentile_ms(0.99),
        "commit_to_webhook_p50_ms": webhook_p50,
        "commit_to_webhook_p99_ms": webhook_p99,
        "webhooks_received": webhooks_received,
        "batched_earns_per_s": round(batch["per_second"], 1),
        "batch_p99_ms": round(batch["p99_ms"], 2),
        "echo_calls_per_s": round(ceiling["per_second"], 1),
        "echo_p99_ms": round(ceiling["p99_ms"], 2),
        "ratio_to_echo": round(fifty["per_second"] / ceiling["per_second"], 3),
        "spend_concurrency": spending,
        "redeems_per_s_unverified": round(unverified["per_second"], 1),
        "redeem_unverified_p99_ms": round(unverified["p99_ms"], 2),
        "redeems_per_s_pin_verified": round(verified["per_second"], 1),
        "redeem_pin_verified_p99_ms": round(verified["p99_ms"], 2),
        "pin_hash": params.describe(),
        "pin_hash_ms": round(hash_ms, 2),
        **{f"redeem_unverified_{k}": v for k, v in unverified.items() if k.endswith("_cpu_ms_per_item")},
        **{f"redeem_pin_{k}": v for k, v in verified.items() if k.endswith("_cpu_ms_per_item")},
        "server_peak_rss_mb": round(peak_rss / 2**20, 1),
        **{f"unary_{k}": v for k, v in fifty.items() if k.endswith("_cpu_ms_per_item")},
        **{f"batch_{k}": v for k, v in batch.items() if k.endswith("_cpu_ms_per_item")},
        "unary_measured_span_s": fifty["span_s"],
        "concurrency": concurrency,
        "batch_callers": batch_callers,
        "batch_size": BATCH_SIZE,
        "client_processes": CLIENT_PROCESSES,
        "seconds_per_phase": seconds,
        "cpu_count": os.cpu_count(),
        "run_id": uuid.uuid4().hex[:8],
    }


def _pin_hash_ms(params: ScryptParams, rounds: int = 10) -> float:
    """One scrypt PIN hash at `params` on this machine, in milliseconds (the median of `rounds`)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        pin_hash(BENCH_PIN, b"0123456789abcdef", params)
        times.append(time.perf_counter() - started)
    return sorted(times)[rounds // 2] * 1000


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (figures from a shared machine say what else ran)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_per_earn(phase: dict, prefix: str = "") -> dict:
    """A phase's CPU figures by process group (server, postgres, clients), named per earn and prefixed."""
    return {prefix + k.replace("_ms_per_item", "_ms_per_earn"): v for k, v in phase.items()
            if k.endswith("_cpu_ms_per_item")}


def run_earn_scaling(process_counts: Sequence[int], seconds: float = 10.0, concurrency: int = 32,
                     batch_callers: int = 4) -> dict:
    """For each process count N: signed unary earns (50 partners) against `network serve --processes N` and the
    bare echo against N SO_REUSEPORT echo processes, in the same run, one database; then BatchEarn (500 items)
    against the same N processes, from max(batch_callers, 2N) callers (one connection each: SO_REUSEPORT spreads
    connections, so each process gets some). Rows: earns/s, p99, the ratio to echo and CPU ms per earn by process
    group (server = supervisor and its processes), and the batched figures (batch_*)."""
    rows = []
    load_before = load_average()
    with _database() as (workdir, url, credentials, members):
        for processes in process_counts:
            with _servers(workdir, url, processes) as (port, echo_port, server):
                pool, manager = _client_pool()
                with pool, manager:
                    watched = {"server": lambda: _with_children(server.pid), "postgres": lambda: _postgres_processes(workdir / "postgres"),
                               "clients": lambda: [psutil.Process(c.pid) for c in pool._pool]}
                    echo = _phase(pool, manager, "echo", f"127.0.0.1:{echo_port}", credentials, members,
                                  concurrency, seconds)
                    _phase(pool, manager, "unary", f"127.0.0.1:{port}", credentials, members, concurrency,
                           min(3.0, seconds))  # warm-up
                    earn = _phase(pool, manager, "unary", f"127.0.0.1:{port}", credentials, members, concurrency,
                                  seconds, watched)
                    callers = max(batch_callers, 2 * processes)
                    batch = _phase(pool, manager, "batch", f"127.0.0.1:{port}", credentials, members, callers,
                                   seconds, watched)
            rows.append({"processes": processes, "earns_per_s": round(earn["per_second"], 1),
                         "earn_p50_ms": round(earn["p50_ms"], 2), "earn_p99_ms": round(earn["p99_ms"], 2),
                         "echo_calls_per_s": round(echo["per_second"], 1), "echo_p99_ms": round(echo["p99_ms"], 2),
                         "ratio_to_echo": round(earn["per_second"] / echo["per_second"], 3),
                         **_cpu_per_earn(earn),
                         "earn_span_s": earn["span_s"], "echo_span_s": echo["span_s"],
                         "batch_callers": callers, "batch_earns_per_s": round(batch["per_second"], 1),
                         "batch_p99_ms": round(batch["p99_ms"], 2),
                         **_cpu_per_earn(batch, "batch_")})
    return {"rows": rows, "concurrency": concurrency, "client_processes": CLIENT_PROCESSES,
            "seconds_per_phase": seconds, "cpu_count": os.cpu_count(), "load_average_before": load_before,
            "load_average_after": load_average(), "run_id": uuid.uuid4().hex[:8]}


def run_verify_benchmark(iterations: int = 20_000, earn_figures: Path | None = None) -> dict:
    """Ed25519 on the server's path, per call: verifying a signed request (coalition-sig-v1, the whole
    partners.signing.verify_request and the bare `cryptography` verify) and signing the receipt; as a fraction
    of the server's CPU per unary earn when a `coalition bench earn` result (earn_figures) is at hand.
    PyNaCl (libsodium, `partners.sodium`, what the server and the SDK use) is measured beside it. The shares of
    the server's CPU are taken with libsodium's figures; the SDK's cost per signed call (its request signed, the
    receipt verified) is given for both libraries."""
    key = signing.generate_private_key()
    public = key.public_key()
    method, body = "/coalition.v1.NetworkService/Earn", os.urandom(120)
    headers = signing.sign_request(key, "bench-k1", method, body)
    metadata = signing.collect_metadata(headers.metadata())
    message = signing.request_message(method, "bench-k1", headers.timestamp, headers.nonce, body)
    signature = base64.b64decode(headers.signature_b64)

    def per_call_us(call: Callable[[], object]) -> float:
        for _ in range(200):
            call()
        started = time.process_time()
        for _ in range(iterations):
            call()
        return (time.process_time() - started) * 1e6 / iterations

    figures: dict[str, object] = {
        "cryptography_verify_us": round(per_call_us(lambda: public.verify(signature, message)), 2),
        "verify_request_us": round(per_call_us(
            lambda: signing.verify_request(metadata, method, body, lambda key_id: public)), 2),
        "cryptography_sign_us": round(per_call_us(lambda: key.sign(message)), 2),
    }
    sodium_public = sodium.SodiumVerifyKey(signing.raw_public(key))
    sodium_private = sodium.SodiumSigningKey(key)
    figures["pynacl_verify_us"] = round(per_call_us(lambda: sodium_public.verify(signature, message)), 2)
    figures["pynacl_verify_request_us"] = round(per_call_us(
        lambda: signing.verify_request(metadata, method, body, lambda key_id: sodium_public)), 2)
    figures["pynacl_sign_us"] = round(per_call_us(lambda: sodium_private.sign(message)), 2)
    figures["verify_faster"] = ("pynacl" if figures["pynacl_verify_us"] < figures["cryptography_verify_us"]
                                else "cryptography")
    figures["sign_faster"] = ("pynacl" if figures["pynacl_sign_us"] < figures["cryptography_sign_us"]
                              else "cryptography")
    figures["server_uses"] = "pynacl (partners.sodium) for verify and sign"
    figures["sdk_uses"] = "pynacl (partners.sodium) to sign requests and verify receipts, statements and events"
    for library in ("cryptography", "pynacl"):  # the SDK's share of a signed call: its request signed, the receipt checked
        figures[f"sdk_sign_and_receipt_{library}_us"] = round(figures[f"{library}_sign_us"] +
                                                             figures[f"{library}_verify_us"], 2)
    if earn_figures is not None and earn_figures.exists():
        import json

        earn = json.loads(earn_figures.read_text())
        server_ms = earn.get("unary_server_cpu_ms_per_item")
        if server_ms:
            figures["server_cpu_ms_per_earn"] = server_ms
            figures["verify_share_of_server_cpu"] = round(figures["pynacl_verify_request_us"] / 1000 / server_ms, 3)
            figures["verify_and_receipt_share_of_server_cpu"] = round(
                (figures["pynacl_verify_request_us"] + figures["pynacl_sign_us"]) / 1000 / server_ms, 3)
    figures.update({"iterations": iterations, "cryptography_version": _version("cryptography"),
                    "pynacl_version": _version("PyNaCl"),
                    "load_average": load_average()})
    return figures


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _seed_programme(url: str, campaigns: int, partners: Sequence[str]) -> None:
    """`campaigns` active campaigns over the bench partners (a mix: multipliers on a partner, fixed points on
    baskets above a minimum, network-funded and co-funded ones, some outside their hours or weekdays today, a
    tenth with a budget) and a tier ladder whose higher tiers multiply earns."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _set_bench_ladder(conn, True)
            today = datetime.now(timezone.utc).weekday()
            for i in range(campaigns):
                partner = partners[i % len(partners)]
                other = partners[(i + 1) % len(partners)]
                funders = ((Funder(partner, 10_000),), (Funder(NETWORK_ISSUER, 10_000),),
                           (Funder(partner, 5_000), Funder(other, 5_000)))[i % 3]
                conditions = Conditions(partners=(partner,), min_basket_minor=100 * (i % 4),
                                        weekdays=() if i % 5 else ((today + 1) % 7,))
                effects = Effects(multiplier_bps=2_500 * (1 + i % 4)) if i % 2 else Effects(fixed_points=5 + i)
                create_campaign(conn, Campaign(f"bench-{i:02d}", f"Bench campaign {i}", funders, conditions, effects,
                                               priority=i % 7, budget_points=10**12 if i % 10 == 0 else None),
                                "bench", "EUR")
    finally:
        engine.dispose()


BENCH_LADDER = (("Silver", 1, 5_000, 11_000), ("Gold", 2, 20_000, 12_500), ("Platinum", 3, 50_000, 15_000))


def _set_bench_ladder(conn, multiplied: bool) -> None:
    """The bench's ladder: higher tiers multiplying earns, or every multiplier back to x1."""
    for name, rank, threshold, multiplier in BENCH_LADDER:
        set_tier(conn, Tier(name, rank, threshold, multiplier if multiplied else 10_000, 15_000), "bench")


def _switch_programme(url: str, campaigns: int, on: bool) -> None:
    """Resume (on) or pause every bench campaign and raise or reset the ladder's multipliers: the server's index
    follows by NOTIFY."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for i in range(campaigns):
                set_campaign_status(conn, f"bench-{i:02d}", "resume" if on else "pause", "bench")
            _set_bench_ladder(conn, on)
    finally:
        engine.dispose()


def run_campaign_benchmark(campaigns: int = 50, seconds: float = 10.0, concurrency: int = 32,
                           pairs: int = 2) -> dict:
    """Signed unary earns/s at 50 partners without any campaign (the ladder at x1), and with `campaigns` active
    campaigns and a tier ladder with multipliers, on the same server and database in the same run, in `pairs`
    pairs of phases ordered plain, with, with, plain, ... (ABBA: a drift of the machine's load or of the tables'
    size over the run weighs on both sides alike). The programme is switched between phases by pausing and
    resuming the campaigns and resetting the multipliers. `ratio` is the sum of the "with" rates over the sum of
    the plain ones; each phase's rate, CPU per earn and load average are listed too."""
    return _with_load(lambda: _campaign_benchmark(campaigns, seconds, concurrency, pairs))


def _campaign_benchmark(campaigns: int, seconds: float, concurrency: int, pairs: int) -> dict:
    with _database() as (workdir, url, credentials, members), _servers(workdir, url, 1) as (port, _, server):
        target = f"127.0.0.1:{port}"
        pool, manager = _client_pool()
        phases: list[tuple[str, dict, tuple]] = []
        with pool, manager:
            watched = {"server": lambda: _with_children(server.pid),
                       "postgres": lambda: _postgres_processes(workdir / "postgres")}
            _phase(pool, manager, "unary", target, credentials, members, concurrency, min(3.0, seconds))  # warm-up
            seeded, on = False, False
            for kind in _abba(pairs, "plain", "with"):
                if (kind == "with") != on:
                    on = kind == "with"
                    if on and not seeded:
                        _seed_programme(url, campaigns, [c[0] for c in credentials])
                        seeded = True
                    else:
                        _switch_programme(url, campaigns, on)
                    time.sleep(1.0)  # the server's index follows by NOTIFY; a moment for it to reload
                    _phase(pool, manager, "unary", target, credentials, members, concurrency, min(3.0, seconds))
                load = load_average()
                phases.append((kind, _phase(pool, manager, "unary", target, credentials, members, concurrency,
                                            seconds, watched), load))
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                bonus_lines = conn.execute(text(
                    "SELECT count(*) FROM earn_components WHERE kind <> 'base'")).scalar_one()
        finally:
            engine.dispose()

    def total(kind: str, key: str) -> float:
        return sum(figures[key] for k, figures, _ in phases if k == kind)

    def mean_cpu(kind: str) -> dict:
        keys = [k for k in phases[0][1] if k.endswith("_cpu_ms_per_item")]
        return {k: round(total(kind, k) / pairs, 3) for k in keys}
    plain = {"per_second": total("plain", "per_second") / pairs, "p99_ms": max(
        f["p99_ms"] for k, f, _ in phases if k == "plain"), **mean_cpu("plain")}
    with_campaigns = {"per_second": total("with", "per_second") / pairs, "p99_ms": max(
        f["p99_ms"] for k, f, _ in phases if k == "with"), **mean_cpu("with")}
    return {
        "unary_earns_per_s_plain": round(plain["per_second"], 1),
        "unary_earns_per_s_with_campaigns": round(with_campaigns["per_second"], 1),
        "ratio": round(with_campaigns["per_second"] / plain["per_second"], 3),
        "target_ratio": 0.9,
        "plain_p99_ms": round(plain["p99_ms"], 2),
        "with_campaigns_p99_ms": round(with_campaigns["p99_ms"], 2),
        **{f"plain_{k}": v for k, v in plain.items() if k.endswith("_cpu_ms_per_item")},
        **{f"with_campaigns_{k}": v for k, v in with_campaigns.items() if k.endswith("_cpu_ms_per_item")},
        "phases": [f"{k} {f['per_second']:.1f}/s, CPU ms per earn: " + ", ".join(
            f"{key.removesuffix('_cpu_ms_per_item')} {f[key]}" for key in f if key.endswith("_cpu_ms_per_item"))
            + f"; load {load}" for k, f, load in phases],
        "pairs": pairs,
        "campaigns": campaigns,
        "bonus_lines_written": bonus_lines,
        "concurrency": concurrency,
        "seconds_per_phase": seconds,
        "cpu_count": os.cpu_count(),
        "run_id": uuid.uuid4().hex[:8],
    }
