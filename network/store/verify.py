"""`coalition ledger verify`: every ledger invariant (docs/money-model.md, "Conservation"), checked over the whole
database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Connection, text

from network.store.lots import OUTSTANDING_BY_ISSUER

from network.core import ledger
from network.core.ledger import JournalEntry, Posting


@dataclass
class Check:
    name: str
    ok: bool
    examined: int
    detail: str = ""
    examples: list[str] = field(default_factory=list)


def _count_check(conn: Connection, name: str, examined_sql: str, failing_sql: str, describe: str) -> Check:
    examined = int(conn.execute(text(examined_sql)).scalar_one())
    failing = conn.execute(text(failing_sql + " LIMIT 5")).all()
    return Check(name, not failing, examined, describe if not failing else f"{len(failing)}+ violations",
                 [", ".join(str(v) for v in row) for row in failing])


def check_postings_balance(conn: Connection) -> Check:
    return _count_check(conn, "postings of every transaction sum to zero",
                        "SELECT count(*) FROM journal",
                        "SELECT tx_id, sum(points) FROM postings GROUP BY tx_id HAVING sum(points) <> 0",
                        "every transaction balances")


def check_transactions_have_postings(conn: Connection) -> Check:
    return _count_check(conn, "every transaction has postings",
                        "SELECT count(*) FROM journal",
                        "SELECT j.tx_id FROM journal j WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.tx_id = j.tx_id)",
                        "no empty transactions")


def check_lot_state(conn: Connection) -> Check:
    return _count_check(conn, "lot remaining and held rebuild from the journal",
                        "SELECT count(*) FROM lots",
                        "SELECT l.lot_id, l.remaining, coalesce(p.member, 0), l.held, coalesce(p.hold, 0) FROM lots l "
                        "LEFT JOIN (SELECT lot_id, sum(points) FILTER (WHERE account = 'member') AS member, "
                        "sum(points) FILTER (WHERE account = 'hold') AS hold FROM postings GROUP BY lot_id) p "
                        "USING (lot_id) WHERE l.remaining <> coalesce(p.member, 0) OR l.held <> coalesce(p.hold, 0)",
                        "every lot matches its postings")


def check_balances(conn: Connection) -> Check:
    return _count_check(conn, "member balances: available = active lots' remaining, held = open holds, never negative",
                        "SELECT count(*) FROM members",
                        "SELECT m.member_id, coalesce(l.held, 0), coalesce(h.open, 0), coalesce(l.available, 0) "
                        "FROM members m "
                        "LEFT JOIN (SELECT member_id, sum(held) AS held, sum(remaining) FILTER (WHERE state = 'active') "
                        "  AS available FROM lots GROUP BY member_id) l USING (member_id) "
                        "LEFT JOIN (SELECT member_id, sum(points) AS open FROM holds WHERE state = 'open' "
                        "  GROUP BY member_id) h USING (member_id) "
                        "WHERE coalesce(l.held, 0) <> coalesce(h.open, 0) OR coalesce(l.available, 0) < 0",
                        "every member's held points equal its open holds, no balance is negative")


def check_hold_allocations(conn: Connection) -> Check:
    return _count_check(conn, "every hold is fully allocated to lots",
                        "SELECT count(*) FROM holds",
                        "SELECT h.hold_id, h.points, coalesce(sum(a.points), 0) FROM holds h "
                        "LEFT JOIN hold_allocations a USING (hold_id) GROUP BY h.hold_id, h.points "
                        "HAVING h.points <> coalesce(sum(a.points), 0)",
                        "hold allocations add up")


def check_provenance(conn: Connection) -> Check:
    return _count_check(conn, "every consumed point has provenance (a lot and its issuer)",
                        "SELECT count(*) FROM postings WHERE account = 'redeemer'",
                        "SELECT p.tx_id, p.lot_id FROM postings p LEFT JOIN lots l USING (lot_id) "
                        "WHERE l.lot_id IS NULL",
                        "every posting names an existing lot")


def check_liabilities(conn: Connection) -> Check:
    return _count_check(conn, "each partner's liability equals its outstanding lots",
                        "SELECT count(*) FROM partners",
                        "SELECT j.issuer_id, j.outstanding, coalesce(o.points, 0) FROM "
                        "(SELECT l.issuer_id, -sum(p.points) FILTER (WHERE p.account IN ('issuer','redeemer','breakage')) "
                        "   AS outstanding FROM postings p JOIN lots l USING (lot_id) GROUP BY l.issuer_id) j "
                        f"LEFT JOIN ({OUTSTANDING_BY_ISSUER}) o USING (issuer_id) "
                        "WHERE j.outstanding <> coalesce(o.points, 0)",
                        "journal-derived liability equals outstanding lots for every issuer")


def check_hash_chain(conn: Connection, progress: Callable[[int], None] | None = None) -> Check:
    """Recompute every journal row's hash from its content and its predecessor, shard by shard."""
    rows = conn.execution_options(yield_per=5000).execute(text(
        "SELECT j.tx_id, j.shard, j.seq, j.kind, j.partner_id, j.member_id, j.points, j.amount_minor, j.currency, "
        "j.related_id, j.request_id, j.created_at, j.prev_hash, j.hash, "
        "array_agg(p.account || ':' || p.owner || ':' || p.lot_id || ':' || p.points) AS postings "
        "FROM journal j LEFT JOIN postings p USING (tx_id) GROUP BY j.tx_id ORDER BY j.shard, j.seq"))
    heads = {r.shard: (r.seq, bytes(r.last_hash)) for r in conn.execute(text("SELECT * FROM shard_heads"))}
    examined, broken = 0, []
    shard, expected_prev, expected_seq = None, ledger.GENESIS_HASH, 1
    last: dict[int, tuple[int, bytes]] = {}
    for r in rows:
        if r.shard != shard:
            shard, expected_prev, expected_seq = r.shard, ledger.GENESIS_HASH, 1
        postings = [Posting(*_split_posting(p)) for p in (r.postings or []) if p is not None]
        entry = JournalEntry(str(r.tx_id), r.shard, r.seq, r.kind, r.partner_id, str(r.member_id), r.points,
                             r.amount_minor, r.currency, str(r.related_id) if r.related_id else None, r.request_id,
                             r.created_at)
        recomputed = ledger.chain_hash(bytes(r.prev_hash), ledger.entry_digest(entry, postings))
        if r.seq != expected_seq or bytes(r.prev_hash) != expected_prev or recomputed != bytes(r.hash):
            broken.append(f"shard {r.shard} seq {r.seq} tx {r.tx_id}")
        expected_prev, expected_seq = bytes(r.hash), r.seq + 1
        last[r.shard] = (r.seq, bytes(r.hash))
        examined += 1
        if progress and examined % 50000 == 0:
            progress(examined)
    for s, (seq, head_hash) in heads.items():
        if seq and last.get(s) != (seq, head_hash):
            broken.append(f"shard {s} head does not match its last row")
    return Check("journal hash chain is intact (tamper evidence)", not broken, examined,
                 "every row's hash recomputes from its content and predecessor" if not broken
                 else f"{len(broken)} broken links", broken[:5])


def _split_posting(text_value: str) -> tuple[str, str, str, int]:
    account, owner, lot_id, points = text_value.rsplit(":", 3)
    return account, owner, str(uuid.UUID(lot_id)), int(points)


def check_events(conn: Connection) -> Check:
    """The outbox against the journal: one event per journal row, for its partner, and each partner's events
    numbered 1..n with its sequence head at n."""
    return _count_check(conn, "partner events: one per journal row, numbered without gaps",
                        "SELECT count(*) FROM journal",
                        "SELECT 'journal row without its event', j.tx_id::text FROM journal j WHERE NOT EXISTS "
                        "(SELECT 1 FROM partner_events e WHERE e.tx_id = j.tx_id AND e.partner_id = j.partner_id) "
                        "UNION ALL SELECT 'event of no journal row', e.tx_id::text FROM partner_events e "
                        "WHERE e.tx_id IS NOT NULL AND NOT EXISTS "
                        "(SELECT 1 FROM journal j WHERE j.tx_id = e.tx_id AND j.partner_id = e.partner_id) "
                        "UNION ALL SELECT 'transaction reported twice', tx_id::text FROM partner_events "
                        "WHERE tx_id IS NOT NULL GROUP BY tx_id HAVING count(*) > 1 "
                        "UNION ALL SELECT 'sequence with a gap', partner_id FROM partner_events GROUP BY partner_id "
                        "HAVING max(seq) <> count(*) "
                        "UNION ALL SELECT 'sequence head not at the last event', h.partner_id FROM partner_event_heads h "
                        "FULL JOIN (SELECT partner_id, max(seq) AS last FROM partner_events GROUP BY partner_id) e "
                        "USING (partner_id) WHERE h.seq IS DISTINCT FROM e.last",
                        "every ledger change is its partner's event")


CHECKS = (check_postings_balance, check_transactions_have_postings, check_lot_state, check_balances,
          check_hold_allocations, check_provenance, check_liabilities, check_events)


def verify_ledger(conn: Connection, *, hash_chain: bool = True,
                  extra: tuple[Callable[[Connection], Check], ...] = (),
                  progress: Callable[[int], None] | None = None) -> list[Check]:
    """Run every check in one repeatable-read snapshot."""
    conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    results = [check(conn) for check in (*CHECKS, *extra)]
    if hash_chain:
        results.append(check_hash_chain(conn, progress))
    return results
