"""`coalition bench console`: page render times of the console on a large ledger.

Set-up: a fresh embedded PostgreSQL, migrated, bulk-loaded with set-based SQL (generate_series) with `partners`
partners, transactions/10 members and `transactions` ledger transactions over the last 30 days: 60 % earns (one
lot each), 30 % redemptions (each spends half of one earlier lot, at another partner), 10 % expiries (each expires
one whole lot). Every posting, lot and balance invariant holds; the journal's hash chain is NOT computed (every
row carries zero hashes), so `ledger verify` reports the hash chain as broken on this database. One settlement
cycle over the last day is then cleared, netted and stated by settlement's own functions.

Measured: the wall time of streamlit.testing.v1.AppTest.run() for each page, first with empty caches ("cold",
every aggregate read from PostgreSQL) then again ("warm", st.cache_data hits).
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, text

from console.auth import hash_password
from network.database import EmbeddedPostgres, make_engine, migrate
from network.signer import NetworkSigner
from console.settings import get_settings
from network.settings import from_environment
from settlement import cycles

APP = Path(__file__).resolve().parent / "app.py"
PAGES = ("overview", "partners", "clearing", "settlement", "members", "ledger_health", "audit")
SPAN = timedelta(days=30)
BENCH_USER, BENCH_PASSWORD = "bench-admin", "bench-password"


def _partner(expr: str) -> str:
    return f"'p' || lpad(({expr})::text, 3, '0')"


def _member(expr: str) -> str:
    return f"md5('m' || ({expr}))::uuid"


def load(engine: Engine, transactions: int, partners: int, now: datetime) -> dict[str, int]:
    """Bulk-load the ledger; returns the row counts. Lot k (1..E) is earned by member k % M + 1 at partner
    k % P + 1; redemption r (1..R) spends half of lot r at partner (7r) % P + 1; expiry x (1..X) expires lot R + x."""
    earns = transactions * 6 // 10
    redeems = transactions * 3 // 10
    expiries = transactions - earns - redeems
    members = max(1000, transactions // 10)
    t0 = now - SPAN
    p = {"P": partners, "M": members, "E": earns, "R": redeems, "X": expiries, "t0": t0, "span": SPAN,
         "zero": bytes(32)}
    at = lambda k, n: f"(:t0 + ({k})::float8 / {n} * :span)"  # noqa: E731 - spread k of n over the 30 days
    points = "(100 + k % 400)"
    statements = [
        f"INSERT INTO partners (partner_id, name, status, currency) "
        f"SELECT {_partner('i')}, 'Partner ' || i, 'active', 'EUR' FROM generate_series(1, :P) i",
        "INSERT INTO contracts (partner_id, version, effective_from, earn_points_per_major, settlement_model, "
        "clearing_fee_bps, issue_price_minor_per_point, redemption_rate_minor_per_point, breakage_share_bps, "
        "return_window_seconds, expiry_days, max_basket_share_bps, credit_limit_minor, collateral_minor) "
        f"SELECT {_partner('i')}, 1, :t0 - interval '1 day', 1, 'issuer_pays', 50, 0, 0, 1000, 0, 365, 10000, "
        "2000000 + i * 20000, 100000 FROM generate_series(1, :P) i",
        "INSERT INTO members (member_id, card_number, shard, enrolled_by, created_at) "
        f"SELECT {_member('i')}, '7' || lpad(i::text, 15, '0'), i % 64, {_partner('i % :P + 1')}, :t0 "
        "FROM generate_series(1, :M) i",
        "INSERT INTO cards (card_number, member_id, status, created_at) "
        "SELECT card_number, member_id, 'active', created_at FROM members",
        "INSERT INTO enrollments (partner_id, member_id, enrolled_at) SELECT enrolled_by, member_id, created_at FROM members",
        "INSERT INTO lots (lot_id, member_id, issuer_id, earn_tx_id, points, remaining, held, state, available_at, "
        "expires_at, created_at) "
        f"SELECT md5('l' || k)::uuid, {_member('k % :M + 1')}, {_partner('k % :P + 1')}, md5('e' || k)::uuid, {points}, "
        f"CASE WHEN k <= :R THEN {points} - {points} / 2 WHEN k <= :R + :X THEN 0 ELSE {points} END, 0, "
        "CASE WHEN k > :R AND k <= :R + :X THEN 'expired' ELSE 'active' END, "
        f"{at('k', ':E')}, {at('k', ':E')} + interval '365 days', {at('k', ':E')} FROM generate_series(1, :E) k",
        "INSERT INTO journal (tx_id, shard, seq, kind, partner_id, member_id, points, amount_minor, currency, "
        "created_at, prev_hash, hash) "
        f"SELECT md5('e' || k)::uuid, (k % :M + 1) % 64, k, 'earn', {_partner('k % :P + 1')}, {_member('k % :M + 1')}, "
        f"{points}, {points} * 100, 'EUR', {at('k', ':E')}, :zero, :zero FROM generate_series(1, :E) k",
        "INSERT INTO journal (tx_id, shard, seq, kind, partner_id, member_id, points, currency, created_at, prev_hash, hash) "
        f"SELECT md5('r' || k)::uuid, (k % :M + 1) % 64, :E + k, 'redeem', {_partner('(7 * k) % :P + 1')}, "
        f"{_member('k % :M + 1')}, -({points} / 2), 'EUR', {at('k', ':R')}, :zero, :zero FROM generate_series(1, :R) k",
        "INSERT INTO journal (tx_id, shard, seq, kind, partner_id, member_id, points, created_at, prev_hash, hash) "
        f"SELECT md5('x' || k)::uuid, (k % :M + 1) % 64, :E + :R + (k - :R), 'expire', {_partner('k % :P + 1')}, "
        f"{_member('k % :M + 1')}, -{points}, {at('k', ':E')} + interval '1 hour', :zero, :zero "
        "FROM generate_series(:R + 1, :R + :X) k",
        "INSERT INTO postings (tx_id, line, account, owner, lot_id, points, member_id) "
        f"SELECT md5('e' || k)::uuid, line, CASE line WHEN 0 THEN 'issuer' ELSE 'member' END, "
        f"CASE line WHEN 0 THEN {_partner('k % :P + 1')} ELSE {_member('k % :M + 1')}::text END, md5('l' || k)::uuid, "
        f"CASE line WHEN 0 THEN -{points} ELSE {points} END, {_member('k % :M + 1')} "
        "FROM generate_series(1, :E) k CROSS JOIN (VALUES (0), (1)) AS lines(line)",
        "INSERT INTO postings (tx_id, line, account, owner, lot_id, points, member_id) "
        f"SELECT md5('r' || k)::uuid, line, CASE line WHEN 0 THEN 'member' ELSE 'redeemer' END, "
        f"CASE line WHEN 0 THEN {_member('k % :M + 1')}::text ELSE {_partner('(7 * k) % :P + 1')} END, "
        f"md5('l' || k)::uuid, CASE line WHEN 0 THEN -({points} / 2) ELSE {points} / 2 END, {_member('k % :M + 1')} "
        "FROM generate_series(1, :R) k CROSS JOIN (VALUES (0), (1)) AS lines(line)",
        "INSERT INTO postings (tx_id, line, account, owner, lot_id, points, member_id) "
        f"SELECT md5('x' || k)::uuid, line, CASE line WHEN 0 THEN 'member' ELSE 'breakage' END, "
        f"CASE line WHEN 0 THEN {_member('k % :M + 1')}::text ELSE {_partner('k % :P + 1')} END, "
        f"md5('l' || k)::uuid, CASE line WHEN 0 THEN -{points} ELSE {points} END, {_member('k % :M + 1')} "
        "FROM generate_series(:R + 1, :R + :X) k CROSS JOIN (VALUES (0), (1)) AS lines(line)",
        "INSERT INTO operator_actions (operator, action, subject, detail) "
        f"SELECT 'bench', 'partner.create', {_partner('i')}, '{{}}'::jsonb FROM generate_series(1, :P) i",
    ]
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql), p)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return {"partners": partners, "members": members, "transactions": earns + redeems + expiries, "lots": earns,
            "postings": 2 * (earns + redeems + expiries)}


def settle_last_day(engine: Engine, now: datetime, key_file: Path) -> str:
    """One cycle over the last whole day, through settlement's own functions (no Temporal needed)."""
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    cycle_id = cycles.cycle_id_for(start)
    with engine.begin() as conn:
        cycles.open_cycle(conn, cycle_id, start, end, cycle_id, "EUR")
        cycles.cut_off(conn, cycle_id)
        cycles.clear(conn, cycle_id, get_settings().point_value_minor)
        cycles.net_cycle(conn, cycle_id)
        cycles.issue_statements(conn, cycle_id, now + timedelta(hours=1), NetworkSigner.from_file(key_file))
    return cycle_id


@contextmanager
def console_environment(database_url: str, password_hash: str) -> Iterator[None]:
    """The in-process console reads its settings from the environment, as the served one does."""
    values = {"DATABASE_URL": database_url, "COALITION_CONSOLE_ADMIN_USER": BENCH_USER,
              "COALITION_CONSOLE_ADMIN_PASSWORD_HASH": password_hash}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    from_environment.cache_clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        from_environment.cache_clear()


def measure_pages(card_number: str) -> dict[str, float]:
    import streamlit as st  # Streamlit only when the benchmark runs: `coalition` starts without it
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.text_input(key="login_user").input(BENCH_USER)
    at.text_input(key="login_password").input(BENCH_PASSWORD)
    at.button[0].click()
    at.run()
    if at.exception:
        raise RuntimeError(f"console login failed: {[e.value for e in at.exception]}")
    figures: dict[str, float] = {}
    for page in PAGES:
        at.switch_page(f"pages/{page}.py")
        if page == "members":
            at.session_state["member_query"] = card_number
        for phase in ("cold", "warm"):
            if phase == "cold":
                st.cache_data.clear()
            started = time.perf_counter()
            at.run()
            figures[f"{page}_{phase}_s"] = round(time.perf_counter() - started, 3)
            if at.exception:
                raise RuntimeError(f"page {page} failed: {[e.value for e in at.exception]}")
        if page != "ledger_health" and not (at.metric or at.dataframe):
            raise RuntimeError(f"page {page} showed no figures: {[e.value for e in at.error]}")
    return figures


def run_console_benchmark(transactions: int = 1_000_000, partners: int = 100, *,
                          data_dir: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="coalition-bench-console-") as scratch:
        root = data_dir or Path(scratch)
        embedded = EmbeddedPostgres(root / "postgres", cleanup_mode="delete" if data_dir is None else "stop")
        engine = make_engine(embedded.url, pool_size=4)
        try:
            migrate(embedded.url)
            now = datetime.now(timezone.utc)
            started = time.perf_counter()
            counts = load(engine, transactions, partners, now)
            load_s = time.perf_counter() - started
            started = time.perf_counter()
            cycle_id = settle_last_day(engine, now, root / "network-key.pem")
            settle_s = time.perf_counter() - started
            with console_environment(embedded.url, hash_password(BENCH_PASSWORD)):
                pages = measure_pages("7" + "1".zfill(15))
        finally:
            engine.dispose()
            embedded.stop()
    worst = max(v for k, v in pages.items() if k.endswith("_cold_s"))
    return {**counts, "load_s": round(load_s, 1), "settle_cycle_s": round(settle_s, 1), "cycle_id": cycle_id,
            **pages, "worst_cold_page_s": worst, "all_pages_under_2s": worst < 2.0}
