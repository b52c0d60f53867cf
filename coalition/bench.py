"""`coalition bench earn`: signed earns through the partner SDK against a network server in its own process.

Set-up: a fresh embedded PostgreSQL, 50 partners with keys, members enrolled across them, the server started
as `coalition network serve` in a subprocess, load from separate client processes (so the client's own
interpreter does not share the server's GIL). Phases, each `seconds` long:
  echo        a bare gRPC echo server (raw bytes, no signing, no database): the ceiling on this machine
  unary-50    signed unary earns at `concurrency` callers, traffic spread over 50 partners
  unary-1     the same, every call from one partner
  watched     unary-1 again, with a WatchEvents stream of that partner open in this process: event latency is from
              the event's transaction (its occurred_at) to the event received here, p50 and p99
  batch       BatchEarn calls of 500 items
The server's resident memory is sampled throughout; the peak is reported. Every earn writes its event to the
outbox in its commit: every figure includes it (the watched phase also the signing and streaming of each event).
"""

from __future__ import annotations

import base64
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent import futures
from pathlib import Path
from typing import Callable

import grpc
import psutil

from network import admin
from network.database import EmbeddedPostgres, make_engine, migrate
from network.store.ledger import build_ledger
from network.settings import Settings
from partners import signing
from partners.client import PartnerClient
from partners.errors import CoalitionError
from partners.signing import private_key_from_raw
from protos.coalition.v1 import network_pb2

CLIENT_PROCESSES = 2
BATCH_SIZE = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _echo_server(port: int) -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    handler = grpc.method_handlers_generic_handler(
        "bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(lambda request, context: request)})
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    server.wait_for_termination()


def _load(args: tuple) -> tuple[int, list[float]]:
    """One client process: `threads` callers looping until the deadline; returns (items, latencies)."""
    mode, target, credentials, members, threads, deadline = args
    latencies: list[float] = []
    counts = [0] * threads
    lock = threading.Lock()

    def caller(index: int) -> None:
        local: list[float] = []
        if mode == "echo":
            channel = grpc.insecure_channel(target)
            echo = channel.unary_unary("/bench.Echo/Echo")
            body = os.urandom(120)
            while time.time() < deadline:
                started = time.perf_counter()
                echo(body, timeout=10)
                local.append(time.perf_counter() - started)
                counts[index] += 1
            channel.close()
        else:
            partner_id, key_id, raw = credentials[index % len(credentials)]
            client = PartnerClient(target, key_id, private_key_from_raw(raw), timeout=10)
            my_members = members[partner_id]
            n = 0
            while time.time() < deadline:
                started = time.perf_counter()
                if mode == "batch":
                    client.batch_earn([{"member_id": my_members[(n + i) % len(my_members)], "points": 1}
                                       for i in range(BATCH_SIZE)])
                    counts[index] += BATCH_SIZE
                else:
                    client.earn(my_members[n % len(my_members)], amount_minor=250 + n % 1000, terminal_id=f"t{index}")
                    counts[index] += 1
                local.append(time.perf_counter() - started)
                n += 1
            client.close()
        with lock:
            latencies.extend(local)

    workers = [threading.Thread(target=caller, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts), latencies


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


def _postgres_processes() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres")]


def _phase(pool, mode: str, target: str, credentials, members, concurrency: int, seconds: float,
           watched: dict[str, Callable[[], list[psutil.Process]]] | None = None) -> dict:
    per_process = max(1, concurrency // CLIENT_PROCESSES)
    start = time.time() + 1.0  # let every process build its clients first
    deadline = start + seconds
    jobs = []
    for p in range(CLIENT_PROCESSES):
        creds = credentials[p::CLIENT_PROCESSES] if len(credentials) >= CLIENT_PROCESSES else credentials
        jobs.append((mode, target, creds, members, per_process, deadline))
    groups = {name: find() for name, find in (watched or {}).items()}
    before = {name: _cpu_seconds(procs) for name, procs in groups.items()}
    results = pool.map(_load, jobs)
    cpu = {name: _cpu_seconds(procs) - before[name] for name, procs in groups.items()}
    total = sum(r[0] for r in results)
    latencies = sorted(x for r in results for x in r[1])
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0
    figures = {"per_second": total / seconds, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "calls": len(latencies)}
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
            admin.set_contract(conn, "bench", partner_id, admin.ContractDraft(earn_points_per_major=1))
            key = signing.generate_private_key()
            admin.register_key(conn, "bench", partner_id, f"{partner_id}-k1",
                               base64.b64encode(signing.raw_public(key)).decode())
            credentials.append((partner_id, f"{partner_id}-k1", signing.raw_private(key)))
            members[partner_id] = [ledger.enroll_member(conn, partner_id, "", "")[0].member_id
                                   for _ in range(members_per_partner)]
    engine.dispose()
    return credentials, members


def run_earn_benchmark(seconds: float = 10.0, concurrency: int = 32, batch_callers: int = 4) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="coalition-bench-"))
    pg = EmbeddedPostgres(workdir / "postgres", cleanup_mode="delete")
    migrate(pg.url)
    credentials, members = _seed(pg.url, partners=50, members_per_partner=40)
    port, echo_port = _free_port(), _free_port()
    env = {**os.environ, "DATABASE_URL": pg.url, "COALITION_DATA_DIR": str(workdir), "COALITION_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "coalition.cli", "network", "serve", "--address",
                               f"127.0.0.1:{port}"], env=env)
    ctx = mp.get_context("spawn")
    echo = ctx.Process(target=_echo_server, args=(echo_port,), daemon=True)
    echo.start()
    peak_rss = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak_rss
        proc = psutil.Process(server.pid)
        while not sampling.wait(0.2):
            try:
                peak_rss = max(peak_rss, proc.memory_info().rss)
            except psutil.Error:
                return

    try:
        _wait_for_port(port)
        _wait_for_port(echo_port)
        threading.Thread(target=sample, daemon=True).start()
        target = f"127.0.0.1:{port}"
        with ctx.Pool(CLIENT_PROCESSES) as pool:
            watched = {"server": lambda: [psutil.Process(server.pid)], "postgres": _postgres_processes,
                       "clients": lambda: [psutil.Process(c.pid) for c in pool._pool]}
            ceiling = _phase(pool, "echo", f"127.0.0.1:{echo_port}", credentials, members, concurrency, seconds)
            _phase(pool, "unary", target, credentials, members, concurrency, min(3.0, seconds))  # warm-up
            fifty = _phase(pool, "unary", target, credentials, members, concurrency, seconds, watched)
            one = _phase(pool, "unary", target, credentials[:1], members, concurrency, seconds)
            with _EventLatency(target, credentials[0]) as event_latency:
                watched_one = _phase(pool, "unary", target, credentials[:1], members, concurrency, seconds)
            batch = _phase(pool, "batch", target, credentials, members, batch_callers, seconds, watched)
        sampling.set()
    finally:
        server.terminate()
        server.wait(30)
        echo.terminate()
        pg.stop()
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
        "batched_earns_per_s": round(batch["per_second"], 1),
        "batch_p99_ms": round(batch["p99_ms"], 2),
        "echo_calls_per_s": round(ceiling["per_second"], 1),
        "echo_p99_ms": round(ceiling["p99_ms"], 2),
        "ratio_to_echo": round(fifty["per_second"] / ceiling["per_second"], 3),
        "server_peak_rss_mb": round(peak_rss / 2**20, 1),
        **{f"unary_{k}": v for k, v in fifty.items() if k.endswith("_cpu_ms_per_item")},
        **{f"batch_{k}": v for k, v in batch.items() if k.endswith("_cpu_ms_per_item")},
        "concurrency": concurrency,
        "batch_callers": batch_callers,
        "batch_size": BATCH_SIZE,
        "client_processes": CLIENT_PROCESSES,
        "seconds_per_phase": seconds,
        "cpu_count": os.cpu_count(),
        "run_id": uuid.uuid4().hex[:8],
    }
