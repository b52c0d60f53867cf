"""`coalition ledger verify`: every ledger invariant (docs/money-model.md, "Conservation"), checked over the whole
database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import Connection, text

from network.store.contracts import CONTRACT_VERSIONS
from network.store.lots import OUTSTANDING_BY_ISSUER

from network.core import ledger
from network.core.events import MEMBER_ONLY_KINDS
from network.core.ledger import JournalEntry, Posting


# Column classes, as verify names them: every column of the history tables (journal, postings, lots, holds,
# hold_allocations, hold_members) is in one of them (tests/test_tamper_columns.py edits each column, read from the
# catalogue).
HASHED = "hashed"    # under the hash chain (network.core.ledger: what each hash version covers)
LINKED = "linked"    # a copy of hashed data, checked against it (a lot's or hold's fixed columns vs its transaction)
DERIVED = "derived"  # state rebuilt from hashed data (lot remaining/held/state, hold state, hold allocations)


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


def _named_check(conn: Connection, name: str, examined_sql: str, failing_sql: str, describe: str) -> Check:
    """Like _count_check, with failing rows (label, detail) shown as 'label: detail'."""
    examined = int(conn.execute(text(examined_sql)).scalar_one())
    failing = conn.execute(text(failing_sql + " LIMIT 5")).all()
    return Check(name, not failing, examined, describe if not failing else f"{len(failing)}+ violations",
                 [f"{label}: {detail}" for label, detail in failing])


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
    return _named_check(conn, "lot remaining and held rebuild from the journal",
                        "SELECT count(*) FROM lots",
                        "SELECT 'lot ' || l.lot_id, '" + DERIVED + " column(s) remaining ' || l.remaining || ', held ' "
                        "|| l.held || '; its postings say ' || coalesce(p.member, 0) || ', ' || coalesce(p.hold, 0) "
                        "FROM lots l "
                        "LEFT JOIN (SELECT lot_id, sum(points) FILTER (WHERE account = 'member') AS member, "
                        "sum(points) FILTER (WHERE account = 'hold') AS hold FROM postings GROUP BY lot_id) p "
                        "USING (lot_id) WHERE l.remaining <> coalesce(p.member, 0) OR l.held <> coalesce(p.hold, 0) "
                        "ORDER BY l.lot_id",
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


_CHAIN_ROWS = """
SELECT j.tx_id, j.shard, j.seq, j.kind, j.partner_id, j.member_id::text AS member_id, j.points, j.amount_minor,
       j.currency, j.receipt_ref, j.store_id, j.terminal_id, j.request_id, j.related_id::text AS related_id,
       j.created_at, j.prev_hash, j.hash, j.hash_version,
       p.lines, p.accounts, p.owners, p.lot_ids, p.points AS posting_points,
       l.lot_ids AS lots, l.members AS lot_members, l.issuers AS lot_issuers, l.points AS lot_points,
       l.available AS lot_available, l.expires AS lot_expires, l.created AS lot_created,
       h.hold_id::text AS hold_id, h.member_id::text AS hold_member, h.partner_id AS hold_partner,
       h.points AS hold_points, h.expires_at AS hold_expires, h.created_at AS hold_created
FROM journal j
LEFT JOIN (SELECT tx_id, array_agg(line ORDER BY line) AS lines, array_agg(account ORDER BY line) AS accounts,
                  array_agg(owner ORDER BY line) AS owners, array_agg(lot_id::text ORDER BY line) AS lot_ids,
                  array_agg(points ORDER BY line) AS points
           FROM postings GROUP BY tx_id) p USING (tx_id)
LEFT JOIN (SELECT earn_tx_id AS tx_id, array_agg(lot_id::text ORDER BY lot_id) AS lot_ids,
                  array_agg(member_id::text ORDER BY lot_id) AS members, array_agg(issuer_id ORDER BY lot_id) AS issuers,
                  array_agg(points ORDER BY lot_id) AS points, array_agg(available_at ORDER BY lot_id) AS available,
                  array_agg(expires_at ORDER BY lot_id) AS expires, array_agg(created_at ORDER BY lot_id) AS created
           FROM lots GROUP BY earn_tx_id) l USING (tx_id)
LEFT JOIN holds h ON h.hold_id = j.tx_id
ORDER BY j.shard, j.seq, j.tx_id
"""


def _hashed_content(r) -> tuple[JournalEntry, list[ledger.NumberedPosting], list[ledger.LotTerms],
                                 list[ledger.HoldTerms]]:
    """A _CHAIN_ROWS row as the hash sees it."""
    entry = JournalEntry(str(r.tx_id), r.shard, r.seq, r.kind, r.partner_id, r.member_id, r.points, r.amount_minor,
                         r.currency, r.related_id, r.request_id, r.created_at, r.receipt_ref, r.store_id,
                         r.terminal_id, r.hash_version)
    postings = [ledger.NumberedPosting(line, Posting(account, owner, lot_id, points)) for line, account, owner, lot_id, points
                in zip(r.lines or [], r.accounts or [], r.owners or [], r.lot_ids or [], r.posting_points or [])]
    lots = [ledger.LotTerms(*terms) for terms in zip(r.lots or [], r.lot_members or [], r.lot_issuers or [],
                                                     r.lot_points or [], r.lot_available or [], r.lot_expires or [],
                                                     r.lot_created or [])]
    holds = [] if r.hold_id is None else [ledger.HoldTerms(r.hold_id, r.hold_member, r.hold_partner, r.hold_points,
                                                           r.hold_expires, r.hold_created)]
    return entry, postings, lots, holds


def check_hash_chain(conn: Connection, progress: Callable[[int], None] | None = None) -> Check:
    """Recompute every journal row's hash from what its hash version covers and its predecessor, shard by shard.

    A broken row is named with the rows its hash covers: the journal row, its postings and (version 2) the lot or
    hold it created."""
    rows = conn.execute(text(_CHAIN_ROWS).execution_options(yield_per=5000))  # this statement only
    heads = {r.shard: (r.seq, bytes(r.last_hash)) for r in conn.execute(text("SELECT * FROM shard_heads"))}
    examined, broken = 0, []
    shard, expected_prev, expected_seq = None, ledger.GENESIS_HASH, 1
    last: dict[int, tuple[int, bytes]] = {}
    for r in rows:
        if r.shard != shard:
            shard, expected_prev, expected_seq = r.shard, ledger.GENESIS_HASH, 1
        entry, postings, lots, holds = _hashed_content(r)
        if r.hash_version not in ledger.HASH_VERSIONS:
            recomputed = b""
        else:
            recomputed = ledger.chain_hash(bytes(r.prev_hash), ledger.entry_digest(entry, postings, lots, holds))
        if r.seq != expected_seq or bytes(r.prev_hash) != expected_prev or recomputed != bytes(r.hash):
            covered = [f"journal {r.tx_id}", f"postings of {r.tx_id}"]
            if r.hash_version != 1:
                covered += [f"lot {t.lot_id}" for t in lots] + [f"hold {t.hold_id}" for t in holds]
            broken.append(f"shard {r.shard} seq {r.seq} tx {r.tx_id} (hash v{r.hash_version}): {HASHED} column(s) "
                          f"changed in {', '.join(covered)}")
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


def check_lot_terms(conn: Connection) -> Check:
    """Each lot's fixed columns equal the transaction that created it: an earn's lot its earn (journal row and member
    posting); a lot a transfer created (source_lot_id set) its receiving transaction's member posting, the transfer
    posting on the line before it (from the source lot, owned by the issuer), and the source lot's issuer,
    availability, expiry and issue instant."""
    return _named_check(
        conn, "every lot's fixed columns match the earn or transfer that created it",
        "SELECT count(*) FROM lots",
        "SELECT 'lot ' || l.lot_id, '" + LINKED + " column(s) (lot_id, member_id, issuer_id, earn_tx_id, points, "
        "created_at, source_lot_id) differ from earn ' || l.earn_tx_id FROM lots l "
        "LEFT JOIN journal j ON j.tx_id = l.earn_tx_id AND j.kind = 'earn' "
        "LEFT JOIN postings p ON p.tx_id = l.earn_tx_id AND p.account = 'member' "
        "WHERE l.source_lot_id IS NULL AND (j.tx_id IS NULL OR p.lot_id IS DISTINCT FROM l.lot_id "
        "OR j.member_id <> l.member_id OR j.partner_id <> l.issuer_id OR j.points <> l.points "
        "OR j.created_at <> l.created_at OR p.owner <> l.member_id::text OR p.points <> l.points) "
        "UNION ALL "
        "SELECT 'lot ' || l.lot_id, '" + LINKED + " column(s) (lot_id, member_id, issuer_id, earn_tx_id, points, "
        "available_at, expires_at, created_at, source_lot_id) differ from transfer ' || l.earn_tx_id "
        "|| ' or its source lot' FROM lots l "
        "LEFT JOIN journal j ON j.tx_id = l.earn_tx_id AND j.kind = 'transfer' "
        "LEFT JOIN postings p ON p.tx_id = l.earn_tx_id AND p.account = 'member' AND p.lot_id = l.lot_id "
        "LEFT JOIN postings t ON t.tx_id = l.earn_tx_id AND t.account = 'transfer' AND t.line = p.line - 1 "
        "LEFT JOIN lots s ON s.lot_id = l.source_lot_id "
        "WHERE l.source_lot_id IS NOT NULL AND (j.tx_id IS NULL OR p.tx_id IS NULL OR t.tx_id IS NULL "
        "OR s.lot_id IS NULL OR j.member_id <> l.member_id OR p.owner <> l.member_id::text OR p.points <> l.points "
        "OR t.lot_id <> s.lot_id OR t.owner <> l.issuer_id OR t.points <> -l.points OR s.issuer_id <> l.issuer_id "
        "OR s.available_at <> l.available_at OR s.expires_at IS DISTINCT FROM l.expires_at "
        "OR s.created_at <> l.created_at) ORDER BY 1",
        "every lot is its earn's or its transfer's")


def check_transfers_arrive(conn: Connection) -> Check:
    """Every point a transfer sent arrived: per lot, the transfer account's postings (in on the sending row, out on
    the receiving row) sum to zero, and are owned by the lot's issuer."""
    return _named_check(
        conn, "every transferred point arrived (transfer account zero per lot, owned by its issuer)",
        "SELECT count(*) FROM postings WHERE account = 'transfer'",
        "SELECT 'lot ' || p.lot_id, 'transfer postings sum to ' || sum(p.points) || ', owners ' "
        "|| string_agg(DISTINCT p.owner, ',') || ', issuer ' || coalesce(min(l.issuer_id), 'none') "
        "FROM postings p LEFT JOIN lots l USING (lot_id) WHERE p.account = 'transfer' GROUP BY p.lot_id "
        "HAVING sum(p.points) <> 0 OR bool_or(p.owner IS DISTINCT FROM l.issuer_id) ORDER BY 1",
        "every transfer's points left one lot and arrived in another of the same issuer")


def check_posting_members(conn: Connection) -> Check:
    """Each posting names its transaction's member: postings.member_id is a copy of journal.member_id (not under
    the hash), kept so that a member's postings are found and written by member (distributed by it on Citus)."""
    return _named_check(
        conn, "every posting names its transaction's member",
        "SELECT count(*) FROM postings",
        "SELECT 'postings of ' || p.tx_id, '" + LINKED + " column(s) (member_id) differ from journal ' || p.tx_id "
        "FROM postings p LEFT JOIN journal j USING (tx_id) WHERE j.member_id IS DISTINCT FROM p.member_id "
        "GROUP BY p.tx_id ORDER BY 1",
        "every posting's member is its journal row's")


def check_hold_members(conn: Connection) -> Check:
    """Every hold is in hold_members with its member, and hold_members holds nothing else (Capture and Void find a
    hold's member there)."""
    return _named_check(
        conn, "every hold's member is in the hold lookup",
        "SELECT count(*) FROM hold_members",
        "SELECT 'hold ' || coalesce(h.hold_id, m.hold_id), '" + LINKED + " column(s) (hold_id, member_id) of "
        "hold_members differ from the hold' FROM holds h FULL JOIN hold_members m USING (hold_id) "
        "WHERE h.hold_id IS NULL OR m.hold_id IS NULL OR h.member_id <> m.member_id ORDER BY 1",
        "every hold is found by its id")


def check_member_cards(conn: Connection) -> Check:
    """Every member's current card (members.card_number) is a cards row of its own, not replaced: a card finds its
    member through cards. The code writes it with the member (no trigger since migration 0023)."""
    return _named_check(
        conn, "every member's current card finds it",
        "SELECT count(*) FROM members",
        "SELECT 'member ' || m.member_id, 'card ' || m.card_number || coalesce(' is ' || c.status || ', of member ' "
        "|| c.member_id, ' has no cards row') FROM members m LEFT JOIN cards c USING (card_number) "
        "WHERE c.card_number IS NULL OR c.member_id <> m.member_id OR c.status = 'replaced' ORDER BY 1",
        "every member's current card is its own")


def check_hold_terms(conn: Connection) -> Check:
    """Each hold's fixed columns equal its hold transaction (same id)."""
    return _named_check(
        conn, "every hold's fixed columns match its hold transaction",
        "SELECT count(*) FROM holds",
        "SELECT 'hold ' || h.hold_id, '" + LINKED + " column(s) (hold_id, member_id, partner_id, points, created_at) "
        "differ from its hold transaction' FROM holds h LEFT JOIN journal j ON j.tx_id = h.hold_id AND j.kind = 'hold' "
        "WHERE j.tx_id IS NULL OR j.member_id <> h.member_id OR j.partner_id <> h.partner_id "
        "OR -j.points <> h.points OR j.created_at <> h.created_at ORDER BY h.hold_id",
        "every hold is its transaction's")


def check_lot_states(conn: Connection) -> Check:
    """A lot's state agrees with its postings and times: reversed exactly when every issued point went back to the
    issuer (a lot a transfer created issued nothing itself: never reversed); expired only with nothing left in it,
    and only a lot with an expiry (its own expires_at, or earned under an inactivity contract: network.store.expiry);
    pending only when created with a return window. (When a pending
    lot became active is not recorded: activation is housekeeping, not a transaction. Spending goes by available_at,
    which is hashed, for pending lots; a lot marked active early is the one state edit verify cannot date.)"""
    return _named_check(
        conn, "every lot's state agrees with its postings",
        "SELECT count(*) FROM lots",
        "SELECT 'lot ' || l.lot_id, '" + DERIVED + " column state is ' || l.state || ' (remaining ' || l.remaining "
        "|| ', held ' || l.held || ', issuer postings ' || coalesce(i.issued, 0) || ')' FROM lots l "
        "LEFT JOIN (SELECT lot_id, sum(points) AS issued FROM postings WHERE account = 'issuer' GROUP BY lot_id) i "
        "USING (lot_id) "
        "WHERE (l.state = 'reversed') <> (l.source_lot_id IS NULL AND coalesce(i.issued, 0) = 0) "
        "OR (l.state = 'expired' AND (l.remaining <> 0 OR l.held <> 0 OR (l.expires_at IS NULL AND NOT EXISTS ("
        f"SELECT 1 FROM ({CONTRACT_VERSIONS}) v WHERE v.partner_id = l.issuer_id AND v.expiry_policy = 'inactivity' "
        "AND l.created_at >= v.effective_from AND l.created_at < v.effective_to)))) "
        "OR (l.state = 'pending' AND l.available_at <= l.created_at) ORDER BY l.lot_id",
        "every lot's state follows from its postings")


def check_hold_states(conn: Connection) -> Check:
    """A hold's state is what the transactions closing it say: open (none), captured (a capture), voided (a void
    the partner asked for: it has a request id) or expired (a void housekeeping made: no request id)."""
    return _named_check(
        conn, "every hold's state agrees with the transactions that closed it",
        "SELECT count(*) FROM holds",
        "SELECT 'hold ' || h.hold_id, '" + DERIVED + " column state is ' || h.state || ', its transactions say ' "
        "|| coalesce(c.expected, 'open') FROM holds h LEFT JOIN (SELECT related_id, CASE "
        "  WHEN count(*) > 1 THEN 'closed ' || count(*) || ' times' "
        "  WHEN bool_and(kind = 'capture') THEN 'captured' "
        "  WHEN bool_and(kind = 'void' AND request_id IS NULL) THEN 'expired' ELSE 'voided' END AS expected "
        "  FROM journal WHERE kind IN ('capture', 'void') AND related_id IS NOT NULL GROUP BY related_id) c "
        "ON c.related_id = h.hold_id WHERE h.state <> coalesce(c.expected, 'open') ORDER BY h.hold_id",
        "every hold's state follows from the journal")


def check_hold_allocations_rebuild(conn: Connection) -> Check:
    """A hold's allocations are its hold transaction's hold postings, in line order, with their lots' issuers and
    the hold's member."""
    return _named_check(
        conn, "hold allocations rebuild from the hold's postings",
        "SELECT count(*) FROM hold_allocations",
        "SELECT 'hold_allocation ' || coalesce(a.hold_id, p.tx_id) || ' line ' || coalesce(a.line, p.line), "
        "'" + DERIVED + " column(s) (hold_id, lot_id, line, issuer_id, points, member_id) differ from the hold''s "
        "postings' FROM hold_allocations a FULL JOIN ("
        "  SELECT p.tx_id, (row_number() OVER (PARTITION BY p.tx_id ORDER BY p.line) - 1)::smallint AS line, "
        "         p.lot_id, l.issuer_id, p.points, j.member_id FROM postings p "
        "  JOIN journal j ON j.tx_id = p.tx_id AND j.kind = 'hold' "
        "  LEFT JOIN lots l ON l.lot_id = p.lot_id WHERE p.account = 'hold') p "
        "ON p.tx_id = a.hold_id AND p.line = a.line "
        "WHERE a.hold_id IS NULL OR p.tx_id IS NULL OR a.lot_id <> p.lot_id OR a.issuer_id IS DISTINCT FROM p.issuer_id "
        "OR a.points <> p.points OR a.member_id <> p.member_id ORDER BY 1",
        "every allocation is its hold's posting")


def check_events(conn: Connection) -> Check:
    """The outbox against the journal: one event per journal row, for its partner (none for a transaction between
    members, network.core.events.MEMBER_ONLY_KINDS), and each partner's events numbered 1..n with its sequence head
    at n."""
    member_only = ", ".join(f"'{kind}'" for kind in sorted(MEMBER_ONLY_KINDS))
    return _count_check(conn, "partner events: one per journal row, numbered without gaps",
                        "SELECT count(*) FROM journal",
                        "SELECT 'journal row without its event', j.tx_id::text FROM journal j "
                        f"WHERE j.kind NOT IN ({member_only}) AND NOT EXISTS "
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
          check_hold_allocations, check_provenance, check_liabilities, check_lot_terms, check_posting_members,
          check_hold_terms, check_hold_members, check_lot_states, check_hold_states, check_hold_allocations_rebuild,
          check_events, check_transfers_arrive, check_member_cards)


def verify_ledger(conn: Connection, *, hash_chain: bool = True,
                  extra: tuple[Callable[[Connection], Check], ...] = (),
                  progress: Callable[[int], None] | None = None, snapshot: bool = True) -> list[Check]:
    """Run every check in one repeatable-read snapshot (snapshot=False: in the caller's transaction as it is)."""
    if snapshot:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
    results = [check(conn) for check in (*CHECKS, *extra)]
    if hash_chain:
        results.append(check_hash_chain(conn, progress))
    return results
