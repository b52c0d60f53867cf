"""Writing the journal: transactions chained onto their shard's hash chain, with their postings, in set-based
statements (INSERT ... SELECT FROM unnest(arrays), one parameter per column, whatever the row count).

Hot-path statements are written in the driver's own parameter style (%(name)s) and run through
`exec_driver_sql` or a raw cursor: no SQL compilation per call. Rows travel as NamedTuples whose field names are
the statements' parameter names (network.store.pgarray.columns).
"""

from __future__ import annotations

import re
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Callable, Iterable, NamedTuple, Sequence

from sqlalchemy import Connection, Engine, text

from network.core import ledger
from network.core.ledger import HoldTerms, JournalEntry, LotTerms, Posting
from network.core.members import chain_anchor
from network.store import pgarray


class JournalRow(NamedTuple):
    tx_id: str
    shard: int
    seq: int
    kind: str
    partner_id: str
    member_id: str
    points: int
    amount_minor: int | None
    currency: str | None
    receipt_ref: str | None
    store_id: str | None
    terminal_id: str | None
    request_id: str | None
    related_id: str | None
    created_at: datetime
    prev_hash: bytes
    hash: bytes
    hash_version: int


_JOURNAL_TYPES = ("uuid", "smallint", "bigint", "text", "text", "uuid", "bigint", "bigint", "text", "text", "text",
                  "text", "text", "uuid", "timestamptz", "bytea", "bytea", "smallint")


class PostingRow(NamedTuple):
    tx_id: str
    line: int
    account: str
    owner: str
    lot_id: str
    points: int
    member_id: str  # the transaction's member


_POSTING_TYPES = ("uuid", "smallint", "text", "text", "uuid", "bigint", "uuid")


class HeadMove(NamedTuple):
    """A shard's chain head after the rows written (UPDATE_HEADS), named by its anchor."""

    anchors: str
    seqs: int
    hashes: bytes


class ShardHead(NamedTuple):
    """A shard's chain head as locked (LOCK_HEADS): its last sequence number and hash, and its anchor (the member
    id a Citus cluster places it by: network.store.citus)."""

    seq: int
    last_hash: bytes
    anchor: str


def _unnest_insert(table: str, row_type: type[NamedTuple], types: Sequence[str]) -> str:
    """INSERT ... SELECT FROM unnest(arrays): one statement and one parameter per column."""
    names = ", ".join(row_type._fields)
    arrays = ", ".join(f"CAST(%({name})s AS {kind}[])" for name, kind in zip(row_type._fields, types, strict=True))
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"


_BIND = re.compile(r"%\((\w+)\)s")
Write = tuple[str, dict]  # a statement in the driver's parameter style, with its parameters


@dataclass(frozen=True)
class Prepared:
    """A statement prepared on the server under `name`: EXECUTE name(...) instead of parsing and planning it."""

    name: str
    sql: str  # in the driver's parameter style

    @cached_property  # once per statement, not on every EXECUTE built on the hot path
    def parameters(self) -> list[str]:
        return list(dict.fromkeys(_BIND.findall(self.sql)))  # in order of first appearance

    def prepare(self) -> str:
        numbers = {name: i for i, name in enumerate(self.parameters, 1)}
        return f"PREPARE {self.name} AS " + _BIND.sub(lambda m: f"${numbers[m.group(1)]}", self.sql)

    def execute(self, prefix: str = "") -> str:
        return f"EXECUTE {self.name}(" + ", ".join(f"%({prefix}{p})s" for p in self.parameters) + ")"


class WriteBatch:
    """Statements whose results nobody reads, sent to PostgreSQL together in one round trip.

    With `prepared` (statement text -> Prepared, already prepared on the connection), those statements are sent
    as EXECUTE."""

    def __init__(self, prepared: dict[str, Prepared] | None = None) -> None:
        self._statements: list[str] = []
        self._params: dict = {}
        self._prepared = prepared or {}

    def add(self, sql: str, params: dict) -> None:
        prefix = f"w{len(self._statements)}_"
        known = self._prepared.get(sql)
        if known is not None:
            self._statements.append(known.execute(prefix))
        else:
            self._statements.append(_BIND.sub(lambda m: f"%({prefix}{m.group(1)})s", sql))
        self._params.update({prefix + name: value for name, value in params.items()})

    def statement(self) -> tuple[str, dict]:
        return ";\n".join(self._statements), self._params


INSERT_JOURNAL = _unnest_insert("journal", JournalRow, _JOURNAL_TYPES)
INSERT_POSTINGS = _unnest_insert("postings", PostingRow, _POSTING_TYPES)
# Heads are locked and moved by their anchors (shard_heads.anchor_member_id), constants in the statement: on a Citus
# cluster each goes to the shard that holds its members (network.store.citus)
UPDATE_HEADS = ("UPDATE shard_heads h SET seq = v.seq, last_hash = v.last_hash FROM unnest("
                "CAST(%(anchors)s AS uuid[]), CAST(%(seqs)s AS bigint[]), CAST(%(hashes)s AS bytea[])) "
                "AS v(anchor, seq, last_hash) WHERE h.anchor_member_id = ANY(CAST(%(anchors)s AS uuid[])) "
                "AND h.anchor_member_id = v.anchor")
# A member's last earn or spend in the network (network.core.expiry's inactivity clock), moved forward, never back.
# Written with the journal rows, after the chain heads are locked: every writer of a member's transactions holds its
# shard's head first, so the member_activity row never makes anyone wait (and never deadlocks with the heads).
ACTIVITY_KINDS = frozenset({"earn", "redeem", "capture"})
UPSERT_ACTIVITY = ("INSERT INTO member_activity AS a (member_id, last_activity_at) SELECT * FROM unnest("
                   "CAST(%(activity_member)s AS uuid[]), CAST(%(activity_at)s AS timestamptz[])) "
                   "ON CONFLICT (member_id) DO UPDATE SET last_activity_at = "
                   "greatest(a.last_activity_at, excluded.last_activity_at)")


class ActivityRow(NamedTuple):
    activity_member: str
    activity_at: datetime


LOCK_HEADS = ("SELECT shard, seq, last_hash, anchor_member_id::text FROM shard_heads "
              "WHERE anchor_member_id = ANY(CAST(%(anchors)s AS uuid[])) ORDER BY shard FOR UPDATE")
READ_ANCHORS = "SELECT shard, anchor_member_id::text FROM shard_heads"
_ANCHORS: "weakref.WeakKeyDictionary[Engine, dict[int, str]]" = weakref.WeakKeyDictionary()


def chain_anchors(engine: Engine, shards: Iterable[int], read: Callable[[], Iterable[tuple]]) -> list[str]:
    """The anchors of the chain shards `shards` that have a head, in shard order.

    What this process read of `engine`'s database before: ensure_shard_heads reads every anchor when a server
    starts. `read` runs READ_ANCHORS when a shard is not known yet (a head added since by a process with more
    shards). An anchor never changes once written (migration 0020), so what any process holds stays true across
    processes and servers."""
    known = _ANCHORS.setdefault(engine, {})
    wanted = sorted(set(shards))
    if any(s not in known for s in wanted):
        known.update((shard, anchor) for shard, anchor in read())
    return [known[s] for s in wanted if s in known]


def forget_anchors(engine: Engine) -> None:
    """Drop what `chain_anchors` holds for `engine` (read again on next use)."""
    _ANCHORS.pop(engine, None)


def missing_heads(engine: Engine, shards: Iterable[int], heads: dict[int, "ShardHead"]) -> None:
    """Refuse to chain onto shards whose heads were not locked: a head missing is a ledger inconsistency (or an
    anchor this process holds is no longer there: read again next time)."""
    missing = sorted(set(shards) - set(heads))
    if missing:
        forget_anchors(engine)
        raise RuntimeError(f"ledger inconsistency: chain shard(s) {missing} have no head")


@dataclass
class PendingTransaction:
    """A transaction assembled in memory, chained and written by write_transactions (or the earn path)."""

    tx_id: uuid.UUID | str
    kind: str
    partner_id: str
    member_id: uuid.UUID | str
    shard: int
    points: int
    postings: list[Posting]
    created_at: datetime
    amount_minor: int | None = None
    currency: str | None = None
    receipt_ref: str = ""
    store_id: str = ""
    terminal_id: str = ""
    request_id: str | None = None
    related_id: uuid.UUID | None = None
    lot: LotTerms | None = None  # an earn: the lot it creates (its fixed columns are hashed with the transaction)
    created_lots: tuple[LotTerms, ...] = ()  # a transfer's receiving transaction: the lots it creates (likewise)
    hold: HoldTerms | None = None  # a hold: the hold it places (likewise)


def posting_rows(txs: Sequence[PendingTransaction]) -> list[PostingRow]:
    """The postings of `txs` as rows (they do not depend on the hash chain)."""
    return [PostingRow(str(tx.tx_id), line, p.account, p.owner, p.lot_id, p.points, member)
            for tx in txs for member in (str(tx.member_id),) for line, p in enumerate(tx.postings)]


def posting_writes(txs: Sequence[PendingTransaction]) -> list[Write]:
    """The statement inserting the postings of `txs` (they do not depend on the hash chain)."""
    rows = posting_rows(txs)
    return [(INSERT_POSTINGS, pgarray.columns(PostingRow, rows))] if rows else []


def chain_writes(txs: Sequence[PendingTransaction], heads: dict[int, ShardHead]) -> list[Write]:
    """Chain `txs` onto their shards' hash chains (`heads`: by shard, locked by the caller) and return the
    statements that insert their journal rows and move the touched heads."""
    journal_rows, moves = chain_rows(txs, heads)
    if not journal_rows:
        return []
    return [(INSERT_JOURNAL, pgarray.columns(JournalRow, journal_rows)), (UPDATE_HEADS, pgarray.columns(HeadMove, moves)),
            *activity_writes(txs)]


def chain_rows(txs: Sequence[PendingTransaction], heads: dict[int, ShardHead]) -> tuple[list[JournalRow], list[HeadMove]]:
    """Chain `txs` onto their shards' hash chains (`heads`: by shard, locked by the caller): their journal rows,
    and the touched heads' moves (in shard order) for UPDATE_HEADS."""
    seqs = {shard: head.seq for shard, head in heads.items()}
    hashes = {shard: head.last_hash for shard, head in heads.items()}
    touched: set[int] = set()
    journal_rows = []
    for tx in txs:
        seq, prev_hash = seqs[tx.shard] + 1, hashes[tx.shard]
        tx_id, member = str(tx.tx_id), str(tx.member_id)  # uuids travel as text arrays (cast in SQL)
        related = str(tx.related_id) if tx.related_id else None
        receipt_ref, store_id, terminal_id = tx.receipt_ref or None, tx.store_id or None, tx.terminal_id or None
        entry = JournalEntry(tx_id, tx.shard, seq, tx.kind, tx.partner_id, member, tx.points, tx.amount_minor,
                             tx.currency, related, tx.request_id, tx.created_at, receipt_ref, store_id, terminal_id,
                             ledger.HASH_VERSION)
        digest = ledger.chain_hash(prev_hash, ledger.entry_digest(entry, tx.postings,
                                                                  [tx.lot] if tx.lot else tx.created_lots,
                                                                  [tx.hold] if tx.hold else ()))
        seqs[tx.shard], hashes[tx.shard] = seq, digest
        touched.add(tx.shard)
        journal_rows.append(JournalRow(tx_id, tx.shard, seq, tx.kind, tx.partner_id, member, tx.points,
                                       tx.amount_minor, tx.currency, receipt_ref, store_id, terminal_id,
                                       tx.request_id, related, tx.created_at, prev_hash, digest, ledger.HASH_VERSION))
    return journal_rows, [HeadMove(heads[shard].anchor, seqs[shard], hashes[shard]) for shard in sorted(touched)]


def activity_writes(txs: Sequence[PendingTransaction]) -> list[Write]:
    """The statement moving the members' last activity to their latest earn, redemption or capture in `txs`."""
    latest: dict[str, datetime] = {}
    for tx in txs:
        if tx.kind in ACTIVITY_KINDS:
            member = str(tx.member_id)
            if member not in latest or tx.created_at > latest[member]:
                latest[member] = tx.created_at
    if not latest:
        return []
    return [(UPSERT_ACTIVITY, pgarray.columns(ActivityRow, [ActivityRow(m, at) for m, at in sorted(latest.items())]))]


def shard_heads(rows: Iterable[tuple]) -> dict[int, ShardHead]:
    """LOCK_HEADS' rows (shard, seq, last_hash, anchor) by shard."""
    return {shard: ShardHead(seq, bytes(last_hash), anchor) for shard, seq, last_hash, anchor in rows}


def write_transactions(conn: Connection, txs: Sequence[PendingTransaction]) -> None:
    """Chain `txs` onto their shards' hash chains (heads locked in shard order) and insert journal rows and
    postings."""
    if not txs:
        return
    shards = {tx.shard for tx in txs}
    anchors = chain_anchors(conn.engine, shards, lambda: conn.exec_driver_sql(READ_ANCHORS))
    heads = shard_heads(conn.exec_driver_sql(LOCK_HEADS, {"anchors": pgarray.literal(anchors)}))
    missing_heads(conn.engine, shards, heads)
    for sql, params in (*posting_writes(txs), *chain_writes(txs, heads)):
        conn.exec_driver_sql(sql, params)


def apply_lot_deltas(conn: Connection, postings: Iterable[Posting]) -> None:
    """Move the lots' remaining and held points by what `postings` imply.

    Each lot is named with its member (the owner of its member and hold postings), and the statement filters on the
    members too: on a Citus cluster, where lots are distributed by member_id, it goes to the members' shards only
    (network.store.citus). Every lot must be moved: a lot missing, or not its member's, is a ledger inconsistency
    and fails the transaction."""
    postings = list(postings)
    deltas = ledger.lot_deltas(postings)
    if not deltas:
        return
    member_of = {p.lot_id: p.owner for p in postings if p.account in (ledger.MEMBER, ledger.HOLD)}
    moved = conn.execute(text(
        "UPDATE lots l SET remaining = l.remaining + d.r, held = l.held + d.h "
        "FROM (SELECT unnest(CAST(:ids AS uuid[])) AS lot_id, unnest(CAST(:members AS uuid[])) AS member_id, "
        "unnest(CAST(:r AS bigint[])) AS r, unnest(CAST(:h AS bigint[])) AS h) d "
        "WHERE l.member_id = ANY(CAST(:owners AS uuid[])) AND l.lot_id = d.lot_id AND l.member_id = d.member_id"),
        {"ids": [uuid.UUID(k) for k in deltas], "members": [uuid.UUID(member_of[k]) for k in deltas],
         "owners": sorted({uuid.UUID(member_of[k]) for k in deltas}), "r": [v[0] for v in deltas.values()],
         "h": [v[1] for v in deltas.values()]}).rowcount
    if moved != len(deltas):
        raise RuntimeError(f"ledger inconsistency: {len(deltas)} lots to move, {moved} found with their members")


def ensure_shard_heads(conn: Connection, shards: int) -> None:
    """Give each of chain shards 0 to `shards` - 1 a head at the genesis hash, anchored to a member id its Citus
    shard would hold (network.core.members.chain_anchor), unless it has one."""
    present = set(conn.execute(text("SELECT shard FROM shard_heads")).scalars())
    absent = [s for s in range(shards) if s not in present]
    if absent:
        conn.execute(text("INSERT INTO shard_heads (shard, seq, last_hash, anchor_member_id) "
                          "VALUES (:s, 0, :genesis, :anchor) ON CONFLICT (shard) DO NOTHING"),
                     [{"s": s, "genesis": ledger.GENESIS_HASH, "anchor": chain_anchor(s, shards)} for s in absent])
    forget_anchors(conn.engine)
    chain_anchors(conn.engine, range(shards), lambda: conn.exec_driver_sql(READ_ANCHORS))
