"""Ledger operations: each runs inside one database transaction the caller opens, under the member's lock.

The gRPC servicers (and the CLI, tests, demo) call these; the arithmetic lives in network.ledger.
Hot rows: earns append journal/posting/lot rows and touch only their shard's chain head; no per-partner
counter is updated per request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from typing import Callable, Iterable, Sequence

import grpc
import uuid_utils
from sqlalchemy import Connection, Engine, bindparam, insert, text
from uuid_utils.compat import uuid7  # RFC 9562 UUIDv7, monotonic by a counter: never runs ahead of the clock

from network import errors, ledger, pgarray
from network.contracts import ContractBook, ContractTerms
from network.ledger import Allocation, JournalEntry, LotBalance, Posting
from network.models import HoldAllocation

Clock = Callable[[], datetime]
EXPIRING_WINDOW = timedelta(days=30)
DEFAULT_HOLD_TTL = 900
MAX_HOLD_TTL = 7 * 86400


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_uuid(value: str, field_name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise errors.invalid(field_name, "must be a UUID") from None


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def new_card_number() -> str:
    body = "7" + "".join(secrets.choice("0123456789") for _ in range(14))
    return body + luhn_check_digit(body)


def shard_of(member_id: uuid.UUID, shards: int) -> int:
    return int.from_bytes(hashlib.sha256(member_id.bytes).digest()[:4], "big") % shards


# --- results (plain data; the wire layer maps them) ----------------------------------------------------

@dataclass(frozen=True)
class MemberView:
    member_id: str
    card_number: str
    customer_ref: str
    enrolled_at: datetime | None


@dataclass(frozen=True)
class EarnItem:
    request_id: str
    member_id: str
    amount_minor: int | None
    currency: str | None
    points: int | None
    receipt_ref: str = ""
    store_id: str = ""
    terminal_id: str = ""


@dataclass(frozen=True)
class EarnResult:
    transaction_id: str
    points: int
    state: str
    available_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class SpendResult:
    transaction_id: str
    points: int
    released_points: int
    value_minor: int
    currency: str


@dataclass(frozen=True)
class HoldResult:
    hold_id: str
    points: int
    expires_at: datetime


@dataclass(frozen=True)
class ReverseResult:
    transaction_id: str
    points: int
    remaining_reversible_points: int


@dataclass(frozen=True)
class Balance:
    member_id: str
    available: int
    pending: int
    held: int
    expiring_30d: int
    as_of: datetime


@dataclass(frozen=True)
class TransactionView:
    transaction_id: str
    kind: str
    member_id: str
    points: int
    amount_minor: int | None
    currency: str | None
    receipt_ref: str
    store_id: str
    terminal_id: str
    request_id: str
    related_id: str
    created_at: datetime


@dataclass(frozen=True)
class SpendRefs:
    receipt_ref: str = ""
    store_id: str = ""
    terminal_id: str = ""
    basket_minor: int | None = None
    basket_currency: str | None = None


_JOURNAL_COLUMNS = (("tx_id", "uuid"), ("shard", "smallint"), ("seq", "bigint"), ("kind", "text"),
                    ("partner_id", "text"), ("member_id", "uuid"), ("points", "bigint"), ("amount_minor", "bigint"),
                    ("currency", "text"), ("receipt_ref", "text"), ("store_id", "text"), ("terminal_id", "text"),
                    ("request_id", "text"), ("related_id", "uuid"), ("created_at", "timestamptz"),
                    ("prev_hash", "bytea"), ("hash", "bytea"))
_POSTING_COLUMNS = (("tx_id", "uuid"), ("line", "smallint"), ("account", "text"), ("owner", "text"),
                    ("lot_id", "uuid"), ("points", "bigint"))


def _unnest_insert(table: str, columns: tuple[tuple[str, str], ...]) -> str:
    """INSERT ... SELECT FROM unnest(arrays): one statement and one parameter per column, whatever the row count.

    Hot-path statements are written in the driver's own parameter style (%(name)s) and run through
    `exec_driver_sql` or a raw cursor: no SQL compilation per call."""
    names = ", ".join(name for name, _ in columns)
    arrays = ", ".join(f"CAST(%({name})s AS {kind}[])" for name, kind in columns)
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


INSERT_JOURNAL = _unnest_insert("journal", _JOURNAL_COLUMNS)
INSERT_POSTINGS = _unnest_insert("postings", _POSTING_COLUMNS)
_JOURNAL_PARAMS = [name for name, _ in _JOURNAL_COLUMNS]
_POSTING_PARAMS = [name for name, _ in _POSTING_COLUMNS]
UPDATE_HEADS = ("UPDATE shard_heads h SET seq = v.seq, last_hash = v.last_hash FROM unnest("
                "CAST(%(shards)s AS smallint[]), CAST(%(seqs)s AS bigint[]), CAST(%(hashes)s AS bytea[])) "
                "AS v(shard, seq, last_hash) WHERE h.shard = v.shard")
INSERT_LOTS = ("INSERT INTO lots (lot_id, member_id, issuer_id, earn_tx_id, points, remaining, held, state, "
               "available_at, expires_at, created_at) "
               "SELECT l, m, i, t, p, p, 0, s, a, e, CAST(%(now)s AS timestamptz) FROM unnest("
               "CAST(%(l)s AS uuid[]), CAST(%(m)s AS uuid[]), CAST(%(i)s AS text[]), CAST(%(t)s AS uuid[]), "
               "CAST(%(p)s AS bigint[]), CAST(%(s)s AS text[]), CAST(%(a)s AS timestamptz[]), "
               "CAST(%(e)s AS timestamptz[])) AS x(l, m, i, t, p, s, a, e)")
INSERT_ENROLLMENTS = ("INSERT INTO enrollments (partner_id, member_id, enrolled_at) "
                      "SELECT p, m, CAST(%(t)s AS timestamptz) "
                      "FROM unnest(CAST(%(ps)s AS text[]), CAST(%(ms)s AS uuid[])) AS x(p, m) "
                      "ON CONFLICT DO NOTHING")


# The items' members that exist (member id, shard, NULL) and their enrollments with the items' partners (member
# id, NULL, partner id). Every lookup is by primary key, row by row: LATERAL ... LIMIT 1 keeps the planner from
# scanning a big partner's enrollments when its statistics are stale; the cost grows with the items only.
MEMBERS_OF_ITEMS = """SELECT member_id::text AS member_id, shard, NULL::text AS partner_id FROM members
  WHERE member_id = ANY(CAST(%(members)s AS uuid[]))
UNION ALL
SELECT q.m::text, NULL, e.partner_id FROM unnest(CAST(%(pairs_p)s AS text[]), CAST(%(pairs_m)s AS uuid[])) AS q(p, m)
  CROSS JOIN LATERAL (SELECT partner_id FROM enrollments e WHERE e.partner_id = q.p AND e.member_id = q.m LIMIT 1) e"""


def member_lookup_params(items: Sequence[tuple[str, EarnItem]]) -> dict[str, str]:
    """MEMBERS_OF_ITEMS' parameters for `items` (items whose member id is not a UUID are left out)."""
    ids = earn_member_ids(items)
    pairs = sorted({(items[i][0], str(member_id)) for i, member_id in ids.items()})
    return {"members": pgarray.literal(sorted({m for _, m in pairs})), **pgarray.columns(("pairs_p", "pairs_m"), pairs)}


@dataclass
class MemberFacts:
    """What MEMBERS_OF_ITEMS found: the shard of each existing member, and who is enrolled where."""

    shards: dict[str, int] = field(default_factory=dict)
    enrolled: set[tuple[str, str]] = field(default_factory=set)  # (partner id, member id)

    def add(self, member_id: str, shard: int | None, partner_id: str | None) -> None:
        if partner_id is not None:
            self.enrolled.add((partner_id, member_id))
        else:
            self.shards[member_id] = shard  # type: ignore[assignment]


def posting_writes(txs: Sequence["_PendingTx"]) -> list[Write]:
    """The statement inserting the postings of `txs` (they do not depend on the hash chain)."""
    rows = [(str(tx.tx_id), line, p.account, p.owner, p.lot_id, p.points)
            for tx in txs for line, p in enumerate(tx.postings)]
    return [(INSERT_POSTINGS, pgarray.columns(_POSTING_PARAMS, rows))] if rows else []


def chain_writes(txs: Sequence["_PendingTx"], heads: dict[int, tuple[int, bytes]]) -> list[Write]:
    """Chain `txs` onto their shards' hash chains (`heads`: shard -> (seq, last hash), locked by the caller) and
    return the statements that insert their journal rows and move the touched heads."""
    heads = dict(heads)
    touched: dict[int, tuple[int, bytes]] = {}
    journal_rows = []
    for tx in txs:
        seq, prev_hash = heads[tx.shard]
        seq += 1
        tx_id, member = str(tx.tx_id), str(tx.member_id)  # uuids travel as text arrays (cast in SQL)
        related = str(tx.related_id) if tx.related_id else None
        entry = JournalEntry(tx_id, tx.shard, seq, tx.kind, tx.partner_id, member, tx.points,
                             tx.amount_minor, tx.currency, related, tx.request_id, tx.created_at)
        digest = ledger.chain_hash(prev_hash, ledger.entry_digest(entry, tx.postings))
        heads[tx.shard] = touched[tx.shard] = (seq, digest)
        journal_rows.append((tx_id, tx.shard, seq, tx.kind, tx.partner_id, member, tx.points,
                             tx.amount_minor, tx.currency, tx.receipt_ref or None, tx.store_id or None,
                             tx.terminal_id or None, tx.request_id, related, tx.created_at, prev_hash, digest))
    if not journal_rows:
        return []
    return [(INSERT_JOURNAL, pgarray.columns(_JOURNAL_PARAMS, journal_rows)),
            (UPDATE_HEADS, pgarray.columns(("shards", "seqs", "hashes"),
                                            [(shard, seq, digest) for shard, (seq, digest) in touched.items()]))]


LOCK_HEADS = "SELECT shard, seq, last_hash FROM shard_heads WHERE shard = ANY(CAST(%(shards)s AS smallint[])) " \
             "ORDER BY shard FOR UPDATE"


_INSERT_HOLD_ALLOCATIONS = insert(HoldAllocation.__table__)


@dataclass
class _PendingTx:
    """A transaction assembled in memory, chained and written by _write_transactions."""

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


def earn_member_ids(items: Sequence[tuple[str, EarnItem]], results: list | None = None) -> dict[int, uuid.UUID]:
    """Index -> member id of the items whose member id is a UUID; the others get their error in `results`."""
    ids: dict[int, uuid.UUID] = {}
    for i, (_, item) in enumerate(items):
        try:
            ids[i] = parse_uuid(item.member_id, "member_id")
        except errors.DomainError as exc:
            if results is not None:
                results[i] = exc
    return ids


@dataclass
class EarnPlan:
    """What plan_earns decided: per item a result or a refusal, and the rows to write for the accepted ones."""

    results: list[EarnResult | errors.DomainError]
    now: datetime
    txs: list[_PendingTx] = field(default_factory=list)
    lots: list[tuple] = field(default_factory=list)
    enrollments: set[tuple[str, str]] = field(default_factory=set)

    def writes(self) -> list[Write]:
        """The lot and enrollment inserts (the journal rows are chained separately, see chain_writes)."""
        out: list[Write] = []
        if self.lots:
            out.append((INSERT_LOTS, {**pgarray.columns("lmitpsae", self.lots), "now": self.now}))
        if self.enrollments:
            out.append((INSERT_ENROLLMENTS, {**pgarray.columns(("ps", "ms"), sorted(self.enrollments)), "t": self.now}))
        return out


class Ledger:
    def __init__(self, engine: Engine, contracts: ContractBook, *, point_value_minor: Decimal,
                 network_currency: str, shards: int, clock: Clock = utcnow):
        self.engine = engine
        self.contracts = contracts
        self.point_value_minor = point_value_minor
        self.network_currency = network_currency
        self.shards = shards
        self.clock = clock

    def ensure_shard_heads(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("INSERT INTO shard_heads (shard, seq, last_hash) "
                              "SELECT s, 0, :genesis FROM generate_series(0, :n - 1) s ON CONFLICT DO NOTHING"),
                         {"genesis": ledger.GENESIS_HASH, "n": self.shards})

    # --- journal writing ---------------------------------------------------------------------------------

    def _write_transactions(self, conn: Connection, txs: Sequence[_PendingTx]) -> None:
        """Chain `txs` onto their shards' hash chains (heads locked in shard order) and insert journal rows and
        postings."""
        if not txs:
            return
        heads = {shard: (seq, bytes(last_hash)) for shard, seq, last_hash in conn.exec_driver_sql(
            LOCK_HEADS, {"shards": pgarray.literal(sorted({tx.shard for tx in txs}))})}
        for sql, params in (*posting_writes(txs), *chain_writes(txs, heads)):
            conn.exec_driver_sql(sql, params)

    def _apply_lot_deltas(self, conn: Connection, postings: Iterable[Posting]) -> None:
        deltas = ledger.lot_deltas(postings)
        if not deltas:
            return
        conn.execute(text("UPDATE lots l SET remaining = l.remaining + d.r, held = l.held + d.h "
                          "FROM (SELECT unnest(CAST(:ids AS uuid[])) AS lot_id, unnest(CAST(:r AS bigint[])) AS r, "
                          "unnest(CAST(:h AS bigint[])) AS h) d WHERE l.lot_id = d.lot_id"),
                     {"ids": [uuid.UUID(k) for k in deltas], "r": [v[0] for v in deltas.values()],
                      "h": [v[1] for v in deltas.values()]})

    # --- members -----------------------------------------------------------------------------------------

    def enroll_member(self, conn: Connection, partner_id: str, customer_ref: str, card_number: str) -> tuple[MemberView, bool]:
        if customer_ref:
            existing = conn.execute(text(
                "SELECT m.member_id, m.card_number, e.customer_ref, e.enrolled_at FROM enrollments e "
                "JOIN members m USING (member_id) WHERE e.partner_id = :p AND e.customer_ref = :r"),
                {"p": partner_id, "r": customer_ref}).first()
            if existing:
                if card_number and card_number != existing.card_number:
                    raise errors.DomainError(grpc.StatusCode.ALREADY_EXISTS, "CUSTOMER_REF_TAKEN",
                                             f"customer_ref {customer_ref} belongs to another card")
                return MemberView(str(existing.member_id), existing.card_number, existing.customer_ref,
                                  existing.enrolled_at), False
        now = self.clock()
        if card_number:
            if not (card_number.isdigit() and 12 <= len(card_number) <= 19
                    and luhn_check_digit(card_number[:-1]) == card_number[-1]):
                raise errors.invalid("card_number", "must be 12 to 19 digits with a valid Luhn check digit")
            row = conn.execute(text("SELECT member_id FROM members WHERE card_number = :c"), {"c": card_number}).first()
            if row:  # a coalition member from another brand joins this partner
                member_id = row.member_id
                inserted = conn.execute(text(
                    "INSERT INTO enrollments (partner_id, member_id, customer_ref, enrolled_at) "
                    "VALUES (:p, :m, :r, :t) ON CONFLICT (partner_id, member_id) DO NOTHING RETURNING enrolled_at"),
                    {"p": partner_id, "m": member_id, "r": customer_ref or None, "t": now}).first()
                view = self._member_view(conn, partner_id, member_id)
                return view, inserted is not None
        member_id = uuid7()
        card = card_number or new_card_number()
        conn.execute(text("INSERT INTO members (member_id, card_number, shard, enrolled_by, created_at) "
                          "VALUES (:m, :c, :s, :p, :t)"),
                     {"m": member_id, "c": card, "s": shard_of(member_id, self.shards), "p": partner_id, "t": now})
        conn.execute(text("INSERT INTO enrollments (partner_id, member_id, customer_ref, enrolled_at) "
                          "VALUES (:p, :m, :r, :t)"),
                     {"p": partner_id, "m": member_id, "r": customer_ref or None, "t": now})
        return MemberView(str(member_id), card, customer_ref, now), True

    def _member_view(self, conn: Connection, partner_id: str, member_id: uuid.UUID) -> MemberView:
        row = conn.execute(text(
            "SELECT m.member_id, m.card_number, e.customer_ref, e.enrolled_at FROM members m "
            "LEFT JOIN enrollments e ON e.member_id = m.member_id AND e.partner_id = :p WHERE m.member_id = :m"),
            {"p": partner_id, "m": member_id}).first()
        if row is None:
            raise errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")
        return MemberView(str(row.member_id), row.card_number, row.customer_ref or "", row.enrolled_at)

    def find_member(self, conn: Connection, partner_id: str, *, member_id: str = "", card_number: str = "",
                    customer_ref: str = "") -> MemberView:
        if member_id:
            return self._member_view(conn, partner_id, parse_uuid(member_id, "member_id"))
        if card_number:
            row = conn.execute(text("SELECT member_id FROM members WHERE card_number = :c"), {"c": card_number}).first()
            if row is None:
                raise errors.not_found("card_number", card_number, "MEMBER_NOT_FOUND")
            return self._member_view(conn, partner_id, row.member_id)
        row = conn.execute(text("SELECT member_id FROM enrollments WHERE partner_id = :p AND customer_ref = :r"),
                           {"p": partner_id, "r": customer_ref}).first()
        if row is None:
            raise errors.not_found("customer_ref", customer_ref, "MEMBER_NOT_FOUND")
        return self._member_view(conn, partner_id, row.member_id)

    def _lock_member(self, conn: Connection, member_id: uuid.UUID) -> int:
        """Take the member's row lock (all of its lot changes happen under it); return its shard."""
        row = conn.execute(text("SELECT shard FROM members WHERE member_id = :m FOR UPDATE"), {"m": member_id}).first()
        if row is None:
            raise errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")
        return row.shard

    def _require_enrolled(self, conn: Connection, partner_id: str, member_id: uuid.UUID) -> None:
        if conn.execute(text("SELECT 1 FROM enrollments WHERE partner_id = :p AND member_id = :m"),
                        {"p": partner_id, "m": member_id}).first() is None:
            if conn.execute(text("SELECT 1 FROM members WHERE member_id = :m"), {"m": member_id}).first() is None:
                raise errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")
            raise errors.denied("MEMBER_NOT_ENROLLED", f"member {member_id} is not enrolled with this partner")

    # --- earn --------------------------------------------------------------------------------------------

    def earn_points(self, terms: ContractTerms, item: EarnItem) -> int:
        if item.points is not None:
            return item.points
        assert item.amount_minor is not None and item.currency is not None
        if item.currency not in ledger.CURRENCY_EXPONENT:
            raise errors.invalid("purchase.currency", f"{item.currency} is not a currency the network accepts")
        return ledger.earn_points_for_purchase(item.amount_minor, item.currency, terms.earn_points_per_major)

    def earn_batch(self, conn: Connection, items: Sequence[tuple[str, EarnItem]],
                   outstanding_points: Callable[[str], int] | None = None) -> list[EarnResult | errors.DomainError]:
        """Post every acceptable (partner, item) in one set of statements, whatever the mix of partners.

        Refused items get their error and write nothing.
        """
        members = MemberFacts()
        for row in conn.exec_driver_sql(MEMBERS_OF_ITEMS, member_lookup_params(items)):
            members.add(*row)
        plan = self.plan_earns(items, members, outstanding_points)
        if plan.txs:
            self._write_transactions(conn, plan.txs)
        for sql, params in plan.writes():
            conn.exec_driver_sql(sql, params)
        return plan.results

    def plan_earns(self, items: Sequence[tuple[str, EarnItem]], members: MemberFacts,
                   outstanding_points: Callable[[str], int] | None = None) -> "EarnPlan":
        """Decide every (partner, item): its points, lot and journal transaction, or why it is refused.

        `members`: what MEMBERS_OF_ITEMS found for these items. Nothing is read or written here; the caller
        writes `txs` (chain_writes) and `writes()`.
        """
        now = self.clock()
        results: list[EarnResult | errors.DomainError | None] = [None] * len(items)
        member_ids = earn_member_ids(items, results)
        terms_of: dict[str, ContractTerms | errors.DomainError] = {}
        points_of: dict[int, int] = {}
        for i, member_id in member_ids.items():
            partner_id, item = items[i]
            if str(member_id) not in members.shards:
                results[i] = errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")
                continue
            try:
                if partner_id not in terms_of:
                    terms_of[partner_id] = self.contracts.terms(partner_id, now)
                terms = terms_of[partner_id]
                if isinstance(terms, errors.DomainError):
                    raise terms
                points = self.earn_points(terms, item)
            except errors.DomainError as exc:
                terms_of.setdefault(partner_id, exc)
                results[i] = exc
                continue
            if points <= 0:
                results[i] = errors.invalid("purchase.amount_minor", "the purchase earns no points under the contract")
                continue
            points_of[i] = points
        self._apply_credit_limits(items, terms_of, points_of, results, outstanding_points)
        plan = EarnPlan(results, now)  # type: ignore[arg-type]
        for i, points in points_of.items():
            partner_id, item = items[i]
            member = str(member_ids[i])
            shard = members.shards[member]
            terms = terms_of[partner_id]
            assert isinstance(terms, ContractTerms)
            available_at = now + timedelta(seconds=terms.return_window_seconds)
            expires_at = now + timedelta(days=terms.expiry_days) if terms.expiry_days else None
            state = "pending" if terms.return_window_seconds > 0 else "active"
            tx_id, lot_id = str(uuid_utils.uuid7()), str(uuid_utils.uuid7())  # ids travel as text from here on
            plan.txs.append(_PendingTx(tx_id, "earn", partner_id, member, shard, points,
                                       ledger.earn_postings(member, partner_id, lot_id, points), now,
                                       item.amount_minor, item.currency, item.receipt_ref, item.store_id,
                                       item.terminal_id, item.request_id))
            plan.lots.append((lot_id, member, partner_id, tx_id, points, state, available_at, expires_at))
            if (partner_id, member) not in members.enrolled:  # earning at a partner enrolls the member there
                plan.enrollments.add((partner_id, member))
            results[i] = EarnResult(tx_id, points, state, available_at, expires_at)
        return plan

    def _apply_credit_limits(self, items, terms_of, points_of: dict[int, int], results: list,
                             outstanding_points: Callable[[str], int] | None) -> None:
        """Refuse the earns that would push an issuer's exposure past its contract's credit limit."""
        if outstanding_points is None:
            return
        outstanding: dict[str, int] = {}
        for i in sorted(points_of):
            partner_id = items[i][0]
            terms = terms_of[partner_id]
            if terms.credit_limit_minor is None:
                continue
            if partner_id not in outstanding:
                outstanding[partner_id] = outstanding_points(partner_id)
            after = outstanding[partner_id] + points_of[i]
            exposure = ledger.money_for_points(after, self.point_value_minor) - terms.collateral_minor
            if exposure > terms.credit_limit_minor:
                results[i] = errors.precondition(
                    "CREDIT_LIMIT_EXCEEDED",
                    f"partner {partner_id} exposure would reach {exposure} minor units, limit {terms.credit_limit_minor}",
                    partner_id=partner_id)
                del points_of[i]
            else:
                outstanding[partner_id] = after

    # --- spending ----------------------------------------------------------------------------------------

    def _spendable_lots(self, conn: Connection, member_id: uuid.UUID, now: datetime) -> list[LotBalance]:
        conn.execute(text("UPDATE lots SET state = 'active' WHERE member_id = :m AND state = 'pending' "
                          "AND available_at <= :now"), {"m": member_id, "now": now})
        rows = conn.execute(text(
            "SELECT lot_id, issuer_id, remaining, expires_at, created_at FROM lots WHERE member_id = :m "
            "AND state = 'active' AND remaining > 0 AND (expires_at IS NULL OR expires_at > :now)"),
            {"m": member_id, "now": now})
        return [LotBalance(str(r.lot_id), r.issuer_id, r.remaining, r.expires_at, r.created_at) for r in rows]

    def _check_basket(self, terms: ContractTerms, points: int, refs: SpendRefs) -> None:
        if terms.max_basket_share_bps >= 10000:
            return
        if refs.basket_minor is None:
            raise errors.invalid("basket", "this partner's contract caps the basket share payable with points: "
                                 "send the basket amount")
        value = ledger.money_for_points(points, self.point_value_minor)
        cap = refs.basket_minor * terms.max_basket_share_bps // 10000
        if value > cap:
            raise errors.precondition("BASKET_CAP_EXCEEDED",
                                      f"points worth {value} minor units exceed the cap of {cap} "
                                      f"({terms.max_basket_share_bps / 100:.2f}% of the basket)")

    def _allocate(self, conn: Connection, member_id: uuid.UUID, points: int, now: datetime) -> list[Allocation]:
        try:
            return ledger.allocate(self._spendable_lots(conn, member_id, now), points)
        except ledger.NotEnoughPoints as exc:
            raise errors.insufficient_points(str(member_id), exc.requested, exc.available) from None

    def _spend_prelude(self, conn: Connection, partner_id: str, member: str, points: int,
                       refs: SpendRefs) -> tuple[uuid.UUID, int, datetime]:
        member_id = parse_uuid(member, "member_id")
        now = self.clock()
        terms = self.contracts.terms(partner_id, now)
        self._check_basket(terms, points, refs)
        shard = self._lock_member(conn, member_id)
        self.expire_holds(conn, member_id=member_id)  # the member's lapsed holds give their points back first
        return member_id, shard, now

    def redeem(self, conn: Connection, partner_id: str, member: str, points: int, refs: SpendRefs,
               request_id: str | None) -> SpendResult:
        member_id, shard, now = self._spend_prelude(conn, partner_id, member, points, refs)
        allocations = self._allocate(conn, member_id, points, now)
        postings = ledger.spend_postings(str(member_id), partner_id, allocations)
        tx_id = uuid7()
        self._write_transactions(conn, [_PendingTx(tx_id, "redeem", partner_id, member_id, shard, -points, postings,
                                                   now, refs.basket_minor, refs.basket_currency, refs.receipt_ref,
                                                   refs.store_id, refs.terminal_id, request_id)])
        self._apply_lot_deltas(conn, postings)
        self._ensure_enrolled(conn, partner_id, member_id, now)
        return SpendResult(str(tx_id), points, 0, ledger.money_for_points(points, self.point_value_minor),
                           self.network_currency)

    def _ensure_enrolled(self, conn: Connection, partner_id: str, member_id: uuid.UUID, now: datetime) -> None:
        conn.execute(text("INSERT INTO enrollments (partner_id, member_id, enrolled_at) VALUES (:p, :m, :t) "
                          "ON CONFLICT DO NOTHING"), {"p": partner_id, "m": member_id, "t": now})

    def authorize(self, conn: Connection, partner_id: str, member: str, points: int, refs: SpendRefs,
                  ttl_seconds: int, request_id: str | None) -> HoldResult:
        member_id, shard, now = self._spend_prelude(conn, partner_id, member, points, refs)
        allocations = self._allocate(conn, member_id, points, now)
        postings = ledger.hold_postings(str(member_id), allocations)
        hold_id = uuid7()
        expires_at = now + timedelta(seconds=ttl_seconds or DEFAULT_HOLD_TTL)
        self._write_transactions(conn, [_PendingTx(hold_id, "hold", partner_id, member_id, shard, -points, postings,
                                                   now, refs.basket_minor, refs.basket_currency, refs.receipt_ref,
                                                   refs.store_id, refs.terminal_id, request_id)])
        self._apply_lot_deltas(conn, postings)
        conn.execute(text("INSERT INTO holds (hold_id, member_id, partner_id, points, state, expires_at, created_at) "
                          "VALUES (:h, :m, :p, :n, 'open', :e, :t)"),
                     {"h": hold_id, "m": member_id, "p": partner_id, "n": points, "e": expires_at, "t": now})
        conn.execute(_INSERT_HOLD_ALLOCATIONS, [
            {"hold_id": hold_id, "lot_id": uuid.UUID(a.lot_id), "line": i, "issuer_id": a.issuer_id, "points": a.points}
            for i, a in enumerate(allocations)])
        self._ensure_enrolled(conn, partner_id, member_id, now)
        return HoldResult(str(hold_id), points, expires_at)

    def _open_hold(self, conn: Connection, partner_id: str | None, hold: str) -> tuple:
        hold_id = parse_uuid(hold, "hold_id")
        row = conn.execute(text("SELECT hold_id, member_id, partner_id, points, state, expires_at FROM holds "
                                "WHERE hold_id = :h"), {"h": hold_id}).first()
        if row is None:
            raise errors.not_found("hold", hold, "HOLD_NOT_FOUND")
        if partner_id is not None and row.partner_id != partner_id:
            raise errors.denied("NOT_YOUR_HOLD", f"hold {hold} belongs to another partner")
        shard = self._lock_member(conn, row.member_id)
        row = conn.execute(text("SELECT hold_id, member_id, partner_id, points, state, expires_at FROM holds "
                                "WHERE hold_id = :h"), {"h": hold_id}).first()  # re-read under the member lock
        if row.state != "open":
            raise errors.precondition("HOLD_NOT_OPEN", f"hold {hold} is {row.state}", hold_id=hold)
        allocations = [Allocation(str(r.lot_id), r.issuer_id, r.points) for r in conn.execute(
            text("SELECT lot_id, issuer_id, points FROM hold_allocations WHERE hold_id = :h ORDER BY line"),
            {"h": hold_id})]
        return row, shard, allocations

    def capture(self, conn: Connection, partner_id: str, hold: str, points: int, request_id: str | None) -> SpendResult:
        row, shard, allocations = self._open_hold(conn, partner_id, hold)
        now = self.clock()
        if row.expires_at <= now:
            raise errors.precondition("HOLD_EXPIRED", f"hold {hold} expired at {row.expires_at.isoformat()}", hold_id=hold)
        capture_points = points or row.points
        if capture_points > row.points:
            raise errors.precondition("CAPTURE_EXCEEDS_HOLD", f"capture of {capture_points} exceeds the hold of {row.points}",
                                      hold_id=hold)
        captured, released = ledger.take_in_order(allocations, capture_points)
        postings = ledger.capture_postings(str(row.member_id), partner_id, captured, released)
        released_points = row.points - capture_points
        tx_id = uuid7()
        self._write_transactions(conn, [_PendingTx(tx_id, "capture", partner_id, row.member_id, shard, released_points,
                                                   postings, now, request_id=request_id, related_id=row.hold_id)])
        self._apply_lot_deltas(conn, postings)
        conn.execute(text("UPDATE holds SET state = 'captured' WHERE hold_id = :h"), {"h": row.hold_id})
        return SpendResult(str(tx_id), capture_points, released_points,
                           ledger.money_for_points(capture_points, self.point_value_minor), self.network_currency)

    def void(self, conn: Connection, partner_id: str | None, hold: str, request_id: str | None,
             final_state: str = "voided") -> SpendResult:
        row, shard, allocations = self._open_hold(conn, partner_id, hold)
        now = self.clock()
        postings = ledger.release_postings(str(row.member_id), allocations)
        tx_id = uuid7()
        self._write_transactions(conn, [_PendingTx(tx_id, "void", row.partner_id, row.member_id, shard, row.points,
                                                   postings, now, request_id=request_id, related_id=row.hold_id)])
        self._apply_lot_deltas(conn, postings)
        conn.execute(text("UPDATE holds SET state = :s WHERE hold_id = :h"), {"h": row.hold_id, "s": final_state})
        return SpendResult(str(tx_id), 0, row.points, 0, self.network_currency)

    # --- reversals ---------------------------------------------------------------------------------------

    def reverse(self, conn: Connection, partner_id: str, transaction: str, points: int, reason: str,
                request_id: str | None) -> ReverseResult:
        original_id = parse_uuid(transaction, "transaction_id")
        original = conn.execute(text("SELECT tx_id, kind, partner_id, member_id FROM journal WHERE tx_id = :t"),
                                {"t": original_id}).first()
        if original is None:
            raise errors.not_found("transaction", transaction, "TRANSACTION_NOT_FOUND")
        if original.partner_id != partner_id:
            raise errors.denied("NOT_YOUR_TRANSACTION", f"transaction {transaction} belongs to another partner")
        if original.kind not in ("earn", "redeem", "capture"):
            raise errors.precondition("NOT_REVERSIBLE", f"a {original.kind} transaction cannot be reversed",
                                      transaction_id=transaction)
        shard = self._lock_member(conn, original.member_id)
        now = self.clock()
        member = str(original.member_id)
        if original.kind == "earn":
            lot = conn.execute(text(
                "SELECT l.lot_id, l.points, l.remaining, l.state, "
                "(SELECT coalesce(sum(p.points), 0) FROM postings p WHERE p.lot_id = l.lot_id AND p.account = 'issuer') AS issuer_sum "
                "FROM lots l WHERE l.lot_id = (SELECT lot_id FROM postings WHERE tx_id = :t AND account = 'member')"),
                {"t": original_id}).first()
            reversible = -int(lot.issuer_sum)  # issuer postings: -points at earn, +r per reversal
            amount = points or reversible
            if amount > reversible:
                raise errors.precondition("EXCEEDS_REVERSIBLE", f"{amount} points requested, {reversible} reversible",
                                          transaction_id=transaction)
            if amount > lot.remaining:
                raise errors.precondition("POINTS_ALREADY_SPENT",
                                          f"{lot.remaining} of this earn's points are still unspent, {amount} requested",
                                          transaction_id=transaction)
            postings = ledger.reverse_earn_postings(member, partner_id, str(lot.lot_id), amount)
            left = reversible - amount
            tx_points = -amount
        else:
            consumed = [Allocation(str(r.lot_id), r.issuer_id, int(r.points)) for r in conn.execute(text(
                "SELECT p.lot_id, l.issuer_id, sum(p.points) AS points FROM postings p JOIN lots l USING (lot_id) "
                "WHERE p.account = 'redeemer' AND (p.tx_id = :t OR p.tx_id IN "
                "(SELECT tx_id FROM journal WHERE related_id = :t AND kind = 'reverse')) "
                "GROUP BY p.lot_id, l.issuer_id HAVING sum(p.points) > 0 ORDER BY p.lot_id"), {"t": original_id})]
            reversible = sum(a.points for a in consumed)
            amount = points or reversible
            if amount > reversible or reversible == 0:
                raise errors.precondition("EXCEEDS_REVERSIBLE", f"{amount} points requested, {reversible} reversible",
                                          transaction_id=transaction)
            shares = ledger.split_proportionally(consumed, amount)
            postings = ledger.reverse_redemption_postings(member, partner_id, shares)
            left = reversible - amount
            tx_points = amount
        tx_id = uuid7()
        self._write_transactions(conn, [_PendingTx(tx_id, "reverse", partner_id, original.member_id, shard, tx_points,
                                                   postings, now, receipt_ref=reason[:64], request_id=request_id,
                                                   related_id=original_id)])
        self._apply_lot_deltas(conn, postings)
        if original.kind == "earn" and left == 0:
            conn.execute(text("UPDATE lots SET state = 'reversed' WHERE lot_id = :l"), {"l": lot.lot_id})
        elif original.kind != "earn":
            # points returned into lots that expired meanwhile come back spendable only until the lot's expiry
            conn.execute(text("UPDATE lots SET state = 'active' WHERE lot_id IN :ids AND state = 'expired'")
                         .bindparams(bindparam("ids", expanding=True)),
                         {"ids": [uuid.UUID(p.lot_id) for p in postings]})
        return ReverseResult(str(tx_id), amount, left)

    # --- housekeeping ------------------------------------------------------------------------------------

    def activate_due_lots(self, conn: Connection) -> int:
        return conn.execute(text("UPDATE lots SET state = 'active' WHERE state = 'pending' AND available_at <= :now"),
                            {"now": self.clock()}).rowcount

    def expire_lots(self, conn: Connection, limit: int = 5000) -> int:
        """Expire up to `limit` lots past their expiry (lots with open holds wait until the hold resolves)."""
        now = self.clock()
        rows = conn.execute(text(
            "SELECT l.lot_id, l.member_id, l.issuer_id, l.remaining, m.shard FROM lots l JOIN members m USING (member_id) "
            "WHERE l.state IN ('active','pending') AND l.expires_at <= :now AND l.held = 0 "
            "ORDER BY l.member_id LIMIT :limit FOR UPDATE OF l SKIP LOCKED"), {"now": now, "limit": limit}).all()
        txs, postings = [], []
        for r in rows:
            if r.remaining == 0:
                continue
            lot_postings = ledger.expire_postings(str(r.member_id), r.issuer_id, str(r.lot_id), r.remaining)
            postings += lot_postings
            txs.append(_PendingTx(uuid7(), "expire", r.issuer_id, r.member_id, r.shard, -r.remaining, lot_postings, now,
                                  related_id=r.lot_id))
        self._write_transactions(conn, txs)
        self._apply_lot_deltas(conn, postings)
        if rows:
            conn.execute(text("UPDATE lots SET state = 'expired' WHERE lot_id IN :ids")
                         .bindparams(bindparam("ids", expanding=True)), {"ids": [r.lot_id for r in rows]})
        return len(rows)

    def expire_holds(self, conn: Connection, limit: int = 1000, member_id: uuid.UUID | None = None) -> int:
        """Release uncaptured holds past their expiry (all of them, or one member's)."""
        where = "AND member_id = :m " if member_id else ""
        rows = conn.execute(text(f"SELECT hold_id FROM holds WHERE state = 'open' AND expires_at <= :now {where}"
                                 "ORDER BY expires_at LIMIT :limit"),
                            {"now": self.clock(), "limit": limit, "m": member_id}).all()
        for r in rows:
            self.void(conn, None, str(r.hold_id), None, final_state="expired")
        return len(rows)

    # --- reads -------------------------------------------------------------------------------------------

    def balance(self, conn: Connection, partner_id: str, member: str) -> Balance:
        member_id = parse_uuid(member, "member_id")
        self._require_enrolled(conn, partner_id, member_id)
        return self.member_balance(conn, member_id)

    def member_balance(self, conn: Connection, member_id: uuid.UUID) -> Balance:
        now = self.clock()
        row = conn.execute(text(
            "SELECT "
            " coalesce(sum(remaining) FILTER (WHERE spendable), 0) AS available,"
            " coalesce(sum(remaining) FILTER (WHERE state = 'pending' AND available_at > :now), 0) AS pending,"
            " coalesce(sum(held), 0) AS held,"
            " coalesce(sum(remaining) FILTER (WHERE spendable AND expires_at <= :soon), 0) AS expiring "
            "FROM (SELECT *, (state = 'active' OR (state = 'pending' AND available_at <= :now)) "
            "        AND (expires_at IS NULL OR expires_at > :now) AS spendable "
            "      FROM lots WHERE member_id = :m) l"), {"m": member_id, "now": now, "soon": now + EXPIRING_WINDOW}).one()
        return Balance(str(member_id), int(row.available), int(row.pending), int(row.held), int(row.expiring), now)

    def list_transactions(self, conn: Connection, partner_id: str, member: str, page_size: int,
                          after: tuple[datetime, uuid.UUID] | None) -> list[TransactionView]:
        clauses = ["partner_id = :p"]
        params: dict = {"p": partner_id, "limit": page_size}
        if member:
            clauses.append("member_id = :m")
            params["m"] = parse_uuid(member, "member_id")
        if after:
            clauses.append("(created_at, tx_id) < (:ac, :at)")
            params.update(ac=after[0], at=after[1])
        rows = conn.execute(text(
            "SELECT tx_id, kind, member_id, points, amount_minor, currency, receipt_ref, store_id, terminal_id, "
            f"request_id, related_id, created_at FROM journal WHERE {' AND '.join(clauses)} "
            "ORDER BY created_at DESC, tx_id DESC LIMIT :limit"), params)
        return [TransactionView(str(r.tx_id), r.kind, str(r.member_id), r.points, r.amount_minor, r.currency,
                                r.receipt_ref or "", r.store_id or "", r.terminal_id or "", r.request_id or "",
                                str(r.related_id) if r.related_id else "", r.created_at) for r in rows]

    def outstanding_points(self, conn: Connection, partner_id: str) -> int:
        return int(conn.execute(text("SELECT coalesce(sum(remaining + held), 0) FROM lots WHERE issuer_id = :p "
                                     "AND state IN ('pending','active')"), {"p": partner_id}).scalar_one())
