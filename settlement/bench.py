"""`coalition bench settle`: clearing + netting of 1,000,000 redemptions across 100 partners.

The ledger is bulk-loaded with set-based SQL (generate_series) into a separate database, created and migrated here
and dropped afterwards: partners and contracts (half issuer_pays with a clearing fee, half prefunded), members
each with one lot issued before the period (earn journal rows and postings), and the redemptions inside the
period (redeem journal rows, member and redeemer postings consuming those lots, lots' remaining updated). Every
transaction balances and every lot's remaining rebuilds from its postings; the hash chain is not computed (its
columns hold zero bytes): the benchmark database is never verified or served. The indexes of journal, postings and
lots are dropped for the load and built after it (10M redemptions load in minutes, not in most of an hour). Timed:
settlement.cycles.clear and net_cycle on one cycle covering the period, in one transaction, as the workflow's
activities run them.
Peak memory during the timed part: the process's peak RSS (its high-water mark reset before, where Linux allows it)
and PostgreSQL's: the clearing backend and its parallel workers together, sampled every 50 ms (smaps_rollup), their
private memory and their proportional set size (private plus their share of the shared memory they touched: shared
buffers, parallel hash tables), when the server runs on this machine and its processes can be read (None otherwise).
"""

from __future__ import annotations

import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterator

import psutil
from sqlalchemy import Connection, make_url, text
from sqlalchemy.exc import DBAPIError

from network.database import make_engine, migrate
from network.runtime import database
from settlement.settings import SettlementSettings, get_settings
from settlement import cycles

LOTS_PER_PARTNER = 2000
LOT_POINTS = 100
REDEMPTIONS_PER_LOT_BOUND = 5  # each lot is redeemed at most 5 times, 1..20 points each: never overdrawn


LOADED_TABLES = ("journal", "postings", "lots")  # no foreign key refers to them


@contextmanager
def _indexes_built_after(conn: Connection, tables: tuple[str, ...]) -> Iterator[None]:
    """Drop the tables' indexes (and the key constraints they back) for the block, then build them again: a bulk load
    of random keys into live indexes is many times slower than building them once. The same names and definitions."""
    rows = conn.execute(text(
        "SELECT i.indexrelid::regclass::text AS index, i.indrelid::regclass::text AS tbl, c.conname, "
        "pg_get_constraintdef(c.oid) AS condef, pg_get_indexdef(i.indexrelid) AS indexdef FROM pg_index i "
        "LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.contype IN ('p', 'u') "
        "WHERE i.indrelid::regclass::text = ANY(:t)"), {"t": list(tables)}).all()
    for r in rows:
        conn.execute(text(f"ALTER TABLE {r.tbl} DROP CONSTRAINT {r.conname}" if r.conname else f"DROP INDEX {r.index}"))
    yield
    conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    for r in rows:
        # a partitioned table's index reads "ON ONLY parent" (the parent alone): built here on every partition
        conn.execute(text(f"ALTER TABLE {r.tbl} ADD CONSTRAINT {r.conname} {r.condef}" if r.conname
                          else r.indexdef.replace(" ON ONLY ", " ON ", 1)))


def _load(conn: Connection, redemptions: int, partners: int, start: datetime) -> None:
    lots = max(partners * LOTS_PER_PARTNER, -(-redemptions // REDEMPTIONS_PER_LOT_BOUND))
    lots += (-lots) % 20  # redemption r takes 1 + r % 20 points from lot r % lots: keep r % 20 == lot % 20
    p = {"partners": partners, "lots": lots, "n": redemptions, "start": start, "issued": start - timedelta(hours=1),
         "contracts_from": start - timedelta(days=1), "lot_points": LOT_POINTS}
    conn.execute(text("INSERT INTO partners (partner_id, name, status, currency) SELECT 'bp' || lpad(g::text, 4, '0'), "
                      "'Bench partner ' || g, 'active', 'EUR' FROM generate_series(0, :partners - 1) g"), p)
    conn.execute(text(
        "INSERT INTO contracts (partner_id, version, effective_from, earn_points_per_major, settlement_model, "
        "clearing_fee_bps, issue_price_minor_per_point, redemption_rate_minor_per_point, breakage_share_bps, "
        "return_window_seconds, expiry_days, max_basket_share_bps, collateral_minor) "
        "SELECT 'bp' || lpad(g::text, 4, '0'), 1, :contracts_from, 1, "
        "CASE WHEN g % 2 = 0 THEN 'issuer_pays' ELSE 'prefunded' END, CASE WHEN g % 2 = 0 THEN 150 ELSE 0 END, "
        "CASE WHEN g % 2 = 0 THEN 0 ELSE 1.2 END, CASE WHEN g % 2 = 0 THEN 0 ELSE 0.9 END, 0, 0, 0, 10000, 0 "
        "FROM generate_series(0, :partners - 1) g"), p)
    conn.execute(text("INSERT INTO members (member_id, card_number, shard, enrolled_by, created_at) "
                      "SELECT md5('m' || g)::uuid, '7' || lpad(g::text, 15, '0'), g % 64, 'bp' || lpad((g % :partners)::text, 4, '0'), "
                      ":issued FROM generate_series(0, :lots - 1) g"), p)
    conn.execute(text(
        "INSERT INTO journal (tx_id, shard, seq, kind, partner_id, member_id, points, created_at, prev_hash, hash) "
        "SELECT md5('e' || g)::uuid, g % 64, g + 1, 'earn', 'bp' || lpad((g % :partners)::text, 4, '0'), "
        "md5('m' || g)::uuid, :lot_points, :issued, '\\x00'::bytea, '\\x00'::bytea FROM generate_series(0, :lots - 1) g"), p)
    conn.execute(text(
        "INSERT INTO postings (tx_id, line, account, owner, lot_id, points, member_id) "
        "SELECT md5('e' || g)::uuid, l.line, l.account, CASE l.line WHEN 0 THEN 'bp' || lpad((g % :partners)::text, 4, '0') "
        "ELSE md5('m' || g)::uuid::text END, md5('l' || g)::uuid, l.points, md5('m' || g)::uuid "
        "FROM generate_series(0, :lots - 1) g, "
        "(VALUES (0, 'issuer', -:lot_points), (1, 'member', :lot_points)) AS l(line, account, points)"), p)
    conn.execute(text(
        "INSERT INTO journal (tx_id, shard, seq, kind, partner_id, member_id, points, created_at, prev_hash, hash) "
        "SELECT md5('r' || r)::uuid, (r % :lots) % 64, :lots + r + 1, 'redeem', "
        "'bp' || lpad(((r * 7 + r / 97) % :partners)::text, 4, '0'), md5('m' || (r % :lots))::uuid, -(1 + r % 20), "
        ":start + (r * interval '1 millisecond') / 20, '\\x00'::bytea, '\\x00'::bytea FROM generate_series(0, :n - 1) r"), p)
    conn.execute(text(
        "INSERT INTO postings (tx_id, line, account, owner, lot_id, points, member_id) "
        "SELECT md5('r' || r)::uuid, l.line, l.account, CASE l.line WHEN 0 THEN md5('m' || (r % :lots))::uuid::text "
        "ELSE 'bp' || lpad(((r * 7 + r / 97) % :partners)::text, 4, '0') END, md5('l' || (r % :lots))::uuid, "
        "l.sign * (1 + r % 20), md5('m' || (r % :lots))::uuid FROM generate_series(0, :n - 1) r, "
        "(VALUES (0, 'member', -1), (1, 'redeemer', 1)) AS l(line, account, sign)"), p)
    conn.execute(text(
        "INSERT INTO lots (lot_id, member_id, issuer_id, earn_tx_id, points, remaining, held, state, available_at, "
        "expires_at, created_at) SELECT md5('l' || g)::uuid, md5('m' || g)::uuid, "
        "'bp' || lpad((g % :partners)::text, 4, '0'), md5('e' || g)::uuid, :lot_points, "
        ":lot_points - (1 + g % 20) * ((:n - 1 - g) / :lots + 1) * (CASE WHEN g < :n THEN 1 ELSE 0 END), 0, 'active', "
        ":issued, NULL, :issued FROM generate_series(0, :lots - 1) g"), p)


def run_settle_benchmark(redemptions: int = 1_000_000, partners: int = 100,
                         settings: SettlementSettings | None = None) -> dict:
    """Load `redemptions` redemptions across `partners` partners into a fresh database; time clearing + netting."""
    settings = settings or get_settings()
    name = f"coalition_bench_settle_{uuid.uuid4().hex[:8]}"
    with database(settings) as main_engine:
        admin_url = main_engine.url
        with main_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        bench_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            return _run(bench_url, redemptions, partners, settings)
        finally:
            with main_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _run(url: str, redemptions: int, partners: int, settings: SettlementSettings) -> dict:
    migrate(url)
    engine = make_engine(url, 2)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    try:
        load_started = time.perf_counter()
        with engine.begin() as conn, _indexes_built_after(conn, LOADED_TABLES):
            _load(conn, redemptions, partners, start)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            _checkpoint(conn)
        load_seconds = time.perf_counter() - load_started
        cycle_id = cycles.cycle_id_for(start)
        with engine.begin() as conn:
            cycles.open_cycle(conn, cycle_id, start, end, cycle_id, settings.network_currency)
            cycles.cut_off(conn, cycle_id)
        rss_before = _rss_bytes()
        _reset_peak_rss()
        with engine.begin() as conn, _postgres_peak(_backend_pid(conn)) as postgres:
            started = time.perf_counter()
            cleared = cycles.clear(conn, cycle_id, Decimal(settings.point_value_minor))
            clearing_seconds = time.perf_counter() - started
            netted = cycles.net_cycle(conn, cycle_id)
            total_seconds = time.perf_counter() - started
        rss_peak = _peak_rss_bytes()
        return {"redemptions": redemptions, "partners": partners, "load_seconds": round(load_seconds, 2),
                "clearing_seconds": round(clearing_seconds, 3),
                "netting_seconds": round(total_seconds - clearing_seconds, 3),
                "clearing_and_netting_seconds": round(total_seconds, 3),
                "obligation_lines": cleared.obligation_lines, "matrix_cells": cleared.matrix_cells,
                "positions": netted.positions, "network_revenue_minor": netted.network_revenue_minor,
                "conserved": netted.conserved, "process_rss_before_mib": _mib(rss_before),
                "process_peak_rss_mib": _mib(rss_peak),
                "postgres_peak_private_mib": _mib(postgres["private"]) if postgres["private"] is not None else None,
                "postgres_peak_pss_mib": _mib(postgres["pss"]) if postgres["pss"] is not None else None}
    finally:
        engine.dispose()


def _checkpoint(conn: Connection) -> None:
    """Write the load's dirty pages out before the timed part (needs superuser or pg_checkpoint; skipped without)."""
    try:
        conn.execute(text("CHECKPOINT"))
    except DBAPIError:
        pass


def _mib(n: int) -> float:
    return round(n / 2**20, 1)


def _rss_bytes() -> int:
    return psutil.Process().memory_info().rss


def _reset_peak_rss() -> None:
    """Linux: reset the process's RSS high-water mark (VmHWM), so that the peak is the timed part's own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    info = psutil.Process().memory_info()
    if getattr(info, "peak_wset", None):
        return info.peak_wset
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def _backend_pid(conn: Connection) -> int:
    return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _memory(pid: int) -> dict[str, int] | None:
    """A process's private memory and its proportional set size (private plus its share of the shared memory it
    touched: shared buffers, parallel hash tables), from /proc/PID/smaps_rollup; None when unreadable."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    kib = {line.split(":")[0]: int(line.split()[1]) for line in lines if line.endswith(" kB")}
    private = kib.get("Private_Clean", 0) + kib.get("Private_Dirty", 0)
    return {"private": private * 1024, "pss": kib.get("Pss", 0) * 1024}


def _server_processes(backend_pid: int, postmaster_pid: int) -> list[int]:
    """The backend and its parallel workers: the postmaster's children titled "parallel worker for PID n"."""
    marker = f"parallel worker for PID {backend_pid}".encode()
    pids = [backend_pid]
    try:
        children = Path(f"/proc/{postmaster_pid}/task/{postmaster_pid}/children").read_text().split()
    except OSError:
        return pids
    for child in children:
        try:
            if marker in Path(f"/proc/{child}/cmdline").read_bytes():
                pids.append(int(child))
        except OSError:
            continue
    return pids


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@contextmanager
def _postgres_peak(backend_pid: int, interval: float = 0.05) -> Iterator[dict]:
    """Samples the memory of the backend and its parallel workers together while the block runs: the peaks, in
    bytes, of their private memory and of their proportional set size ({"private": ..., "pss": ...})."""
    result: dict = {"private": None, "pss": None}
    if _memory(backend_pid) is None:  # another machine, or not readable: nothing to sample
        yield result
        return
    stop = threading.Event()
    postmaster_pid = _parent_pid(backend_pid)

    def sample() -> None:
        while True:
            sizes = [m for m in map(_memory, _server_processes(backend_pid, postmaster_pid)) if m is not None]
            for kind in ("private", "pss"):
                result[kind] = max(result[kind] or 0, sum(m[kind] for m in sizes))
            if stop.wait(interval):
                return

    sampler = threading.Thread(target=sample, name="postgres-memory", daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        stop.set()
        sampler.join()
