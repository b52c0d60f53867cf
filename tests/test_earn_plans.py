"""The earn path's statements are prepared once per connection and planned generically: whatever a table held
when its plan was made, a lookup goes through the table's index, never a sequential scan that grows with the table.

Measured before this rule (coalition bench earn): plans made while this week's idempotency partition was empty
kept scanning it, and a unary earn's first round trip went from under a millisecond to about 90 ms once a BatchEarn
phase had written 50,000 keys."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from network import admin
from network.core.results import EarnItem
from network.database import make_engine, migrate
from network.keys import Caller
from network.settings import Settings
from network.store.earn import EarnCall, EarnCommitter, autocommit_connection
from network.store.ledger import build_ledger
from partners import signing

# Every table the earn path reads or locks by key (its partitions too: relname LIKE table || '%')
KEYED = ("idempotency_keys", "members", "member_status", "member_qualifying", "member_birthdays", "enrollments",
         "shard_heads", "partner_keys", "partners", "partner_event_heads", "campaigns", "campaign_member_totals")
GROWN_KEYS = 40_000


def _sequential_scans(conn) -> dict[str, int]:
    rows = conn.execute(text("SELECT relname, seq_scan FROM pg_stat_user_tables")).all()
    return {table: sum(r.seq_scan for r in rows if r.relname == table or r.relname.startswith(table + "_p"))
            for table in KEYED}


def _calls(partner_id: str, members: list[str], prefix: str) -> list[EarnCall]:
    return [EarnCall(Caller(partner_id, f"{partner_id}-k1"), EarnItem(f"{prefix}-{i}", member, None, None, 5 + i),
                     hashlib.sha256(f"{prefix}/{i}".encode()).digest()) for i, member in enumerate(members)]


def test_lookups_use_their_indexes_after_the_tables_grow_under_plans_made_empty(scratch_database):
    url = scratch_database("earn_plans")
    migrate(url)
    engine = make_engine(url)
    try:
        ledger = build_ledger(engine, Settings(ledger_shards=4))
        ledger.ensure_shard_heads()
        later = datetime.now(timezone.utc) + timedelta(minutes=5)  # after the contract begins
        ledger.clock = lambda: later
        with engine.begin() as conn:
            admin.create_partner(conn, "test", "pp", "pp")
            admin.set_contract(conn, "test", "pp", admin.ContractDraft(earn_points_per_major=1))
            admin.register_key(conn, "test", "pp", "pp-k1",
                               base64.b64encode(signing.raw_public(signing.generate_private_key())).decode())
            members = [ledger.enroll_member(conn, "pp", "", "")[0].member_id for _ in range(3)]
        committer = EarnCommitter(ledger, lambda result: result.transaction_id.encode())
        with autocommit_connection(engine) as connection:
            first, _ = committer.post(connection, _calls("pp", members, "first"))  # the plans: made now, tables tiny
            assert [o.refused for o in first] == [False] * 3
            with engine.begin() as conn:  # the partition planned empty grows (no ANALYZE: autovacuum has not run)
                conn.execute(text("INSERT INTO idempotency_keys (partner_id, request_id, method, body_hash, response) "
                                  "SELECT 'pp', 'grown-' || i, 'Earn', '\\x00', '\\x00' "
                                  "FROM generate_series(0, :n - 1) AS i"), {"n": GROWN_KEYS})
            cursor = connection.driver_connection.cursor()
            cursor.execute("SELECT pg_stat_force_next_flush()")  # this backend's counters so far, visible now
            with engine.connect() as conn:
                before = _sequential_scans(conn)
            again, _ = committer.post(connection, _calls("pp", members, "again")
                                      + _calls("pp", members[:1], "grown"))  # a replay of a grown key: refused
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.close()
        assert [o.refused for o in again] == [False, False, False, True]
        assert again[3].refusal.reason == "IDEMPOTENCY_KEY_REUSED"  # found through the index, among the grown keys
        with engine.connect() as conn:
            after = _sequential_scans(conn)
        assert {t: after[t] - before[t] for t in KEYED if after[t] != before[t]} == {}
    finally:
        engine.dispose()
