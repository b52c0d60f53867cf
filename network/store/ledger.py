"""Ledger operations over PostgreSQL: each runs inside one database transaction the caller opens, under the
member's lock. The rules that decide each outcome are network.core's; this module reads what they need, calls
them, and writes what they decided (journal writing: network.store.journal; the earn path: network.store.earn).

Hot rows: earns append journal/posting/lot rows and touch only their shard's chain head; no per-partner
counter is updated per request.

Ledger time: every operation that writes the journal dates it with Ledger.ledger_time (network.store.ledger_time),
taken before the member lock, so a settlement cut-off waits for it and no transaction lands in a closed period.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable, Sequence, TypeVar

import grpc
from sqlalchemy import Connection, Engine, Row, bindparam, insert, text
from uuid_utils.compat import uuid7  # RFC 9562 UUIDv7, monotonic by a counter: never runs ahead of the clock

from network import errors
from network.core import ledger, rules
from network.core import campaigns as campaign_rules
from network.core.campaigns import Component, Progress, bonus_reversal
from network.core.ledger import Allocation, LotBalance
from network.core.members import shard_of, valid_card_number
from network.core.terms import ContractTerms
from network.core.results import (Balance, EarnItem, EarnResult, HoldResult, MemberView, ReverseResult, SpendRefs, SpendResult,
                                  TransactionView)
from network.models import HoldAllocation
from network.settings import IDEMPOTENCY_RETENTION_DEFAULT_SECONDS, Settings
from network.store.campaigns import Claims, Programme, ProgrammeBook, qualifying_from
from network.store.contracts import ContractBook
from network.store.credentials import ADD_CARD, new_card_number
from network.store.earn_plan import (MEMBERS_OF_ITEMS, MEMBERS_OF_ITEMS_WITHOUT_STANDING, EarnDecision, EarnPlan,
                                     MemberFacts, member_lookup_params, plan_earns)
from network.store import birthdays, expiry, ledger_time, lifecycle, tiers
from network.store.events import EventRow, append_events, transaction_events
from network.store.journal import PendingTransaction, apply_lot_deltas, ensure_shard_heads, write_transactions

Clock = Callable[[], datetime]
# A check of a spend inside its transaction under the member's lock: (conn, member id, points, ledger time, the
# contract terms in force); it raises to refuse (network.store.consent.SpendGuard).
SpendCheck = Callable[[Connection, uuid.UUID, int, datetime, ContractTerms], None]
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_uuid(value: str, field_name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise errors.invalid(field_name, "must be a UUID") from None


def _refuse(decision: T | rules.Refusal) -> T:
    """A rule's decision, or its refusal raised as the domain error."""
    if isinstance(decision, rules.Refusal):
        raise errors.from_refusal(decision)
    return decision


_INSERT_HOLD_ALLOCATIONS = insert(HoldAllocation.__table__)


# network.core.ledger.consumption_order in SQL, over the candidate lots `c` of Ledger._spendable_lots: earliest
# expiry first (never last), then oldest, then by lot id (a uuid orders as its text does).
CONSUMPTION_ORDER = "c.expires_at IS NULL, coalesce(c.expires_at, c.created_at), c.created_at, c.lot_id"
# A spend reads the first this many of the member's candidate lots, and all of them only when those do not cover it.
ALLOCATION_WINDOW = 64


# One enrolment at a time per (partner, customer_ref), for the transaction: a second waits, then finds the member the
# first enrolled (created False) instead of losing a race on enrollments' unique key and being told to retry. On a
# Citus cluster that key is gone (enrollments are distributed by member: network.store.citus.DROPPED_UNIQUE) and
# this lock alone keeps a partner's customer reference to one member.
CUSTOMER_REF_LOCK = ("SELECT pg_advisory_xact_lock("
                     "hashtextextended('coalition-customer-ref:' || :p || chr(31) || :r, 0))")


class Ledger:
    def __init__(self, engine: Engine, contracts: ContractBook, *, point_value_minor: Decimal,
                 network_currency: str, shards: int, clock: Clock = utcnow,
                 programme: ProgrammeBook | None = None,
                 idempotency_retention_seconds: int = IDEMPOTENCY_RETENTION_DEFAULT_SECONDS):
        self.engine = engine
        self.idempotency_retention_seconds = idempotency_retention_seconds  # keys older than this are new requests
        self.contracts = contracts
        self.point_value_minor = point_value_minor
        self.network_currency = network_currency
        self.shards = shards
        self.clock = clock
        self.programme = programme  # campaigns and the tier ladder (None: earns get their base points only)

    def ensure_shard_heads(self) -> None:
        with self.engine.begin() as conn:
            ensure_shard_heads(conn, self.shards)

    # --- members -----------------------------------------------------------------------------------------

    def enroll_member(self, conn: Connection, partner_id: str, customer_ref: str, card_number: str) -> tuple[MemberView, bool]:
        if customer_ref:
            conn.execute(text(CUSTOMER_REF_LOCK), {"p": partner_id, "r": customer_ref})
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
            if not valid_card_number(card_number):
                raise errors.invalid("card_number", "must be 12 to 19 digits with a valid Luhn check digit")
            row = self._card_member(conn, card_number, missing_ok=True)
            if row:  # a coalition member from another brand joins this partner, card presented at its till
                member_id = row.member_id
                inserted = conn.execute(text(
                    "INSERT INTO enrollments (partner_id, member_id, customer_ref, enrolled_at, method) "
                    "VALUES (:p, :m, :r, :t, 'till') ON CONFLICT (partner_id, member_id) DO UPDATE "
                    "SET method = 'till' RETURNING (xmax = 0) AS inserted"),
                    {"p": partner_id, "m": member_id, "r": customer_ref or None, "t": now}).first()
                view = self._member_view(conn, partner_id, member_id)
                return view, bool(inserted.inserted)
        member_id = uuid7()
        card = card_number or new_card_number()
        conn.execute(text("INSERT INTO members (member_id, card_number, shard, enrolled_by, created_at) "
                          "VALUES (:m, :c, :s, :p, :t)"),
                     {"m": member_id, "c": card, "s": shard_of(member_id, self.shards), "p": partner_id, "t": now})
        conn.execute(text(ADD_CARD), {"m": member_id, "c": card, "t": now})
        conn.execute(text("INSERT INTO enrollments (partner_id, member_id, customer_ref, enrolled_at, method) "
                          "VALUES (:p, :m, :r, :t, 'till')"),
                     {"p": partner_id, "m": member_id, "r": customer_ref or None, "t": now})
        return MemberView(str(member_id), card, customer_ref, now), True

    @staticmethod
    def _card_member(conn: Connection, card_number: str, missing_ok: bool = False) -> Row | None:
        """The member an active card belongs to; a frozen or replaced card is refused (CARD_FROZEN), read in the
        caller's transaction (a freeze committed on any server counts at once)."""
        row = conn.execute(text("SELECT member_id, status FROM cards WHERE card_number = :c"), {"c": card_number}).first()
        if row is None:
            if missing_ok:
                return None
            raise errors.not_found("card_number", card_number, "MEMBER_NOT_FOUND")
        if row.status != "active":
            raise errors.precondition("CARD_FROZEN", f"card {card_number} is {row.status}", card_number=card_number,
                                      card_status=row.status)
        return row

    def welcome(self, conn: Connection, partner_id: str, member_id: str, referrer_card: str = "") -> list[Component]:
        """After an enrolment that created this partner's enrollment: when it is the member's first enrolment in
        the network, record who referred it and give the sign-up bonuses (network.store.lifecycle); the lines given."""
        if self.programme is None:
            return []
        signups = self.programme.current().lifecycle("signup")
        if not signups and not referrer_card:
            return []
        first = conn.execute(text("SELECT count(*) FROM enrollments WHERE member_id = :m"),
                             {"m": parse_uuid(member_id, "member_id")}).scalar_one() == 1
        if not first:
            return []
        now = self.ledger_time(conn)
        if referrer_card:
            lifecycle.record_referral(conn, uuid.UUID(member_id), referrer_card, now)
        shard = conn.execute(text("SELECT shard FROM members WHERE member_id = :m"), {"m": member_id}).scalar_one()
        context = campaign_rules.EarnContext(partner_id, "", now, 0, None)
        given: list[Component] = []
        for campaign in signups:
            if campaign_rules.matches(campaign, context):
                given += lifecycle.award(conn, self.contracts, self._write, campaign, member_id, shard,
                                         lifecycle.SIGNUP, now)
        return given

    def award_lifecycle_bonuses(self, conn: Connection, limit: int = 500) -> int:
        """The referral bonuses due (referees who have purchased), today's anniversaries and birthdays
        (network.store.birthdays), once each: the housekeeping task."""
        if self.programme is None:
            return 0
        programme, now = self.programme.current(), self.ledger_time(conn)
        return (lifecycle.award_referrals(conn, self.contracts, self._write, programme.lifecycle("referral"), now,
                                          limit) +
                lifecycle.award_anniversaries(conn, self.contracts, self._write, programme.lifecycle("anniversary"),
                                              now, limit) +
                birthdays.award_birthdays(conn, self.contracts, self._write, programme.lifecycle("birthday"), now,
                                          limit))

    def review_tiers(self, conn: Connection, hold: timedelta, limit: int = 5000) -> int:
        """Tier requalification (network.store.tiers): members whose tier the rolling 12 months no longer support,
        held for at least `hold`, go down one level; the members moved. The tier-review schedule's task."""
        if self.programme is None:
            return 0
        ladder, now, moved = self.programme.current().ladder, self.clock(), 0
        while True:
            moves = tiers.review_tiers(conn, ladder, now, hold, limit)
            moved += len(moves)
            if len(moves) < limit:
                return moved

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
            return self._member_view(conn, partner_id, self._card_member(conn, card_number).member_id)
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
            raise errors.denied("MEMBER_NOT_ENROLLED", f"member {member_id} is not enrolled with this partner",
                                member_id=str(member_id))

    # --- earn --------------------------------------------------------------------------------------------

    def plan_earns(self, items: Sequence[tuple[str, EarnItem]], members: MemberFacts,
                   outstanding_points: Callable[[str], int] | None = None, *,
                   closed_before: datetime | None = None, claims: Claims | None = None,
                   programme: Programme | None = None) -> EarnPlan:
        """Decide every (partner, item) now under this ledger's contracts (network.store.earn_plan).

        closed_before: the cut-off watermark the caller read under the ledger-time lock (network.store.ledger_time):
        the earns are dated no earlier."""
        if programme is None and self.programme is not None:
            programme = self.programme.current()
        return plan_earns(self.contracts, ledger_time.dated(self.clock(), closed_before), self.point_value_minor,
                          items, members, outstanding_points, programme=programme, claims=claims)

    def ledger_time(self, conn: Connection) -> datetime:
        """This transaction's ledger time, under the ledger-time lock (network.store.ledger_time): call it once,
        before reading what the transaction decides on, in every transaction that writes the journal."""
        return ledger_time.ledger_time(conn, self.clock)

    def earn_batch(self, conn: Connection, items: Sequence[tuple[str, EarnItem]],
                   outstanding_points: Callable[[str], int] | None = None) -> list[EarnDecision]:
        """The earn path's plan and statements inside the caller's transaction, for operator tools and tests that
        earn next to other ledger operations (no idempotency keys, no partner key re-check: the wire's Earn and
        BatchEarn go through network.store.earn). Refused items get their error and write nothing."""
        now = self.ledger_time(conn)
        programme = self.programme.current() if self.programme is not None else None

        def execute(sql: str, params: dict) -> list:
            result = conn.exec_driver_sql(sql, params)
            return list(result) if result.returns_rows else []
        members = MEMBERS_OF_ITEMS if programme is not None else MEMBERS_OF_ITEMS_WITHOUT_STANDING
        plan = plan_earns(self.contracts, now, self.point_value_minor, items,
                          MemberFacts.of(conn.exec_driver_sql(members, member_lookup_params(items, now))),
                          outstanding_points, programme=programme, claims=Claims(execute))
        self._write(conn, plan.txs)
        for sql, params in (*plan.writes(), *plan.standing_writes()):
            conn.exec_driver_sql(sql, params)
        return plan.results

    def preview_earn(self, conn: Connection, partner_id: str, item: EarnItem) -> EarnResult:
        """What `item` would earn now: the earn path's own plan (contract, tier, campaigns, budgets and caps as they
        stand), nothing written or claimed. Raises the refusal an Earn would get."""
        now = self.clock()
        programme = self.programme.current() if self.programme is not None else None

        def execute(sql: str, params: dict) -> list:
            return list(conn.exec_driver_sql(sql, params))
        members = MEMBERS_OF_ITEMS if programme is not None else MEMBERS_OF_ITEMS_WITHOUT_STANDING
        [result] = plan_earns(self.contracts, now, self.point_value_minor, [(partner_id, item)],
                              MemberFacts.of(conn.exec_driver_sql(members,
                                                                  member_lookup_params([(partner_id, item)], now))),
                              programme=programme, claims=Claims(execute, writes=False)).results
        if isinstance(result, errors.DomainError):
            raise result
        return result

    def tier_progress(self, conn: Connection, member_id: str) -> Progress:
        """The member's tier (held, or reached by its qualifying points of the rolling 12 months) and what the next
        tier needs."""
        if self.programme is None:
            return Progress("", 0)
        now = self.clock()
        row = conn.execute(text(
            "SELECT s.tier, (SELECT coalesce(sum(q.points), 0) FROM member_qualifying q WHERE q.member_id = m.member_id "
            "AND q.month >= :since) AS qualifying FROM members m LEFT JOIN member_status s USING (member_id) "
            "WHERE m.member_id = :m"), {"m": parse_uuid(member_id, "member_id"), "since": qualifying_from(now)}).first()
        ladder = self.programme.current().ladder if self.programme is not None else ()
        return campaign_rules.progress(ladder, int(row.qualifying) if row else 0, (row.tier or "") if row else "")

    # --- spending ----------------------------------------------------------------------------------------

    def _spendable_lots(self, conn: Connection, member_id: uuid.UUID, now: datetime,
                        first: int | None = None) -> tuple[list[LotBalance], bool]:
        """The member's lots with points left (activated when due by _allocate first); which are spendable is
        rules.spendable_lots'. `first`: only the first that many candidates in consumption order
        (CONSUMPTION_ORDER). Also whether those were all the candidates (fewer than `first` came back)."""
        rows = conn.execute(text(  # expires_at: the lot's expiry under its policy (network.store.expiry)
            f"SELECT * FROM (SELECT l.lot_id, l.issuer_id, l.state, l.remaining, l.available_at, "
            f"{expiry.LOT_EXPIRY} AS expires_at, l.created_at FROM lots l {expiry.LOT_EXPIRY_JOINS} "
            "WHERE l.member_id = :m AND l.state IN ('pending', 'active') AND l.remaining > 0) c"
            + (f" ORDER BY {CONSUMPTION_ORDER} LIMIT :first" if first is not None else "")),
            {"m": member_id, "first": first}).all()
        return rules.spendable_lots((rules.Lot(str(r.lot_id), r.issuer_id, r.state, r.remaining, r.available_at,
                                               r.expires_at, r.created_at) for r in rows), now), \
            first is None or len(rows) < first

    def _allocate(self, conn: Connection, member_id: uuid.UUID, points: int, now: datetime,
                  window: int = ALLOCATION_WINDOW) -> list[Allocation]:
        """The allocation of network.core.ledger.allocate over all the member's spendable lots, read from the first
        `window` candidates in consumption order when their spendable points cover the spend (the spendable lots
        beyond them all come later in that order) or when they are all the candidates there are, from all of them
        otherwise: a member with hundreds of lots (one per earn) costs a spend what one with a few does, and a
        refused spend of a member with fewer lots than the window reads them once. The member's pending lots past
        their return window are activated first, once."""
        conn.execute(text("UPDATE lots SET state = 'active' WHERE member_id = :m AND state = 'pending' "
                          "AND available_at <= :now"), {"m": member_id, "now": now})
        lots, every = self._spendable_lots(conn, member_id, now, first=window)
        if not every and sum(lot.spendable for lot in lots) < points:  # the rest may cover it: read them all
            lots, _ = self._spendable_lots(conn, member_id, now)
        try:
            return ledger.allocate(lots, points)
        except ledger.NotEnoughPoints as exc:
            raise errors.insufficient_points(str(member_id), exc.requested, exc.available) from None

    def _spend_prelude(self, conn: Connection, partner_id: str, member: str, points: int, refs: SpendRefs,
                       guard: SpendCheck | None = None) -> tuple[uuid.UUID, int, datetime, list[EventRow]]:
        """The member locked, the `guard` (the wire's consent check, network.store.consent.SpendGuard) run under the
        lock, and its lapsed holds released first; their events are written with the spend's."""
        member_id = parse_uuid(member, "member_id")
        now = self.ledger_time(conn)
        terms = self.contracts.terms(partner_id, now)
        if refs.basket_currency is not None:
            _refuse(rules.currency_refusal(terms, refs.basket_currency, "basket.currency"))
        _refuse(rules.basket_cap_refusal(terms, points, refs.basket_minor, self.point_value_minor))
        shard = self._lock_member(conn, member_id)
        if guard is not None:
            guard(conn, member_id, points, now, terms)
        lapsed = self._lapse_holds(conn, member_id=member_id, now=now)  # lapsed holds give their points back first
        return member_id, shard, now, lapsed

    def redeem(self, conn: Connection, partner_id: str, member: str, points: int, refs: SpendRefs,
               request_id: str | None, guard: SpendCheck | None = None) -> SpendResult:
        member_id, shard, now, lapsed = self._spend_prelude(conn, partner_id, member, points, refs, guard)
        allocations = self._allocate(conn, member_id, points, now)
        postings = ledger.spend_postings(str(member_id), partner_id, allocations)
        tx_id = uuid7()
        self._write(conn, [PendingTransaction(tx_id, "redeem", partner_id, member_id, shard, -points, postings,
                                              now, refs.basket_minor, refs.basket_currency, refs.receipt_ref,
                                              refs.store_id, refs.terminal_id, request_id)], lapsed)
        apply_lot_deltas(conn, postings)
        self._ensure_enrolled(conn, partner_id, member_id, now)
        return SpendResult(str(tx_id), points, 0, ledger.money_for_points(points, self.point_value_minor),
                           self.network_currency)

    def _ensure_enrolled(self, conn: Connection, partner_id: str, member_id: uuid.UUID, now: datetime) -> None:
        """A spend enrols the member with the partner as 'spend' (never 'till': only EnrollMember at the partner's
        own till lets it spend without a verification); an existing enrolment stays as it is."""
        conn.execute(text("INSERT INTO enrollments (partner_id, member_id, enrolled_at, method) "
                          "VALUES (:p, :m, :t, 'spend') ON CONFLICT DO NOTHING"),
                     {"p": partner_id, "m": member_id, "t": now})

    def authorize(self, conn: Connection, partner_id: str, member: str, points: int, refs: SpendRefs,
                  ttl_seconds: int, request_id: str | None, guard: SpendCheck | None = None) -> HoldResult:
        member_id, shard, now, lapsed = self._spend_prelude(conn, partner_id, member, points, refs, guard)
        allocations = self._allocate(conn, member_id, points, now)
        postings = ledger.hold_postings(str(member_id), allocations)
        hold_id = uuid7()
        expires_at = rules.hold_expires_at(now, ttl_seconds)
        self._write(conn, [PendingTransaction(
            hold_id, "hold", partner_id, member_id, shard, -points, postings, now, refs.basket_minor,
            refs.basket_currency, refs.receipt_ref, refs.store_id, refs.terminal_id, request_id,
            hold=ledger.HoldTerms(str(hold_id), str(member_id), partner_id, points, expires_at, now))], lapsed)
        apply_lot_deltas(conn, postings)
        conn.execute(text("INSERT INTO holds (hold_id, member_id, partner_id, points, state, expires_at, created_at) "
                          "VALUES (:h, :m, :p, :n, 'open', :e, :t); "
                          "INSERT INTO hold_members (hold_id, member_id) VALUES (:h, :m)"),
                     {"h": hold_id, "m": member_id, "p": partner_id, "n": points, "e": expires_at, "t": now})
        conn.execute(_INSERT_HOLD_ALLOCATIONS, [
            {"hold_id": hold_id, "lot_id": uuid.UUID(a.lot_id), "line": i, "issuer_id": a.issuer_id, "points": a.points,
             "member_id": member_id} for i, a in enumerate(allocations)])
        self._ensure_enrolled(conn, partner_id, member_id, now)
        return HoldResult(str(hold_id), points, expires_at)

    def _open_hold(self, conn: Connection, partner_id: str | None, hold: str) -> tuple[Row, int, list[Allocation]]:
        """The hold (found through hold_members: the wire names the hold alone; every read after it is by member),
        its member locked and the hold re-read under the lock, and its allocations."""
        hold_id = parse_uuid(hold, "hold_id")
        member_id = conn.execute(text("SELECT member_id FROM hold_members WHERE hold_id = :h"),
                                 {"h": hold_id}).scalar_one_or_none()
        read = text("SELECT hold_id, member_id, partner_id, points, state, expires_at FROM holds "
                    "WHERE member_id = :m AND hold_id = :h")
        row = None if member_id is None else conn.execute(read, {"m": member_id, "h": hold_id}).first()
        if row is None:
            raise errors.not_found("hold", hold, "HOLD_NOT_FOUND")
        if partner_id is not None and row.partner_id != partner_id:
            raise errors.denied("NOT_YOUR_HOLD", f"hold {hold} belongs to another partner", hold_id=hold)
        shard = self._lock_member(conn, row.member_id)
        row = conn.execute(read, {"m": member_id, "h": hold_id}).first()  # re-read under the member lock
        if row.state != "open":
            raise errors.precondition("HOLD_NOT_OPEN", f"hold {hold} is {row.state}", hold_id=hold)
        allocations = [Allocation(str(r.lot_id), r.issuer_id, r.points) for r in conn.execute(
            text("SELECT lot_id, issuer_id, points FROM hold_allocations WHERE member_id = :m AND hold_id = :h "
                 "ORDER BY line"), {"m": row.member_id, "h": hold_id})]
        return row, shard, allocations

    def capture(self, conn: Connection, partner_id: str, hold: str, points: int, request_id: str | None) -> SpendResult:
        now = self.ledger_time(conn)
        row, shard, allocations = self._open_hold(conn, partner_id, hold)
        plan = _refuse(rules.plan_capture(hold, row.points, row.expires_at, allocations, points, now))
        postings = ledger.capture_postings(str(row.member_id), partner_id, plan.captured, plan.released)
        tx_id = uuid7()
        self._write(conn, [PendingTransaction(tx_id, "capture", partner_id, row.member_id, shard,
                                                     plan.released_points, postings, now, request_id=request_id,
                                                     related_id=row.hold_id)])
        apply_lot_deltas(conn, postings)
        conn.execute(text("UPDATE holds SET state = 'captured' WHERE member_id = :m AND hold_id = :h"),
                     {"m": row.member_id, "h": row.hold_id})
        return SpendResult(str(tx_id), plan.points, plan.released_points,
                           ledger.money_for_points(plan.points, self.point_value_minor), self.network_currency)

    def void(self, conn: Connection, partner_id: str | None, hold: str, request_id: str | None) -> SpendResult:
        """A partner's void, under its request id: the journal tells a void from a lapse by that id alone (a lapse
        has none: network.store.verify.check_hold_states), so a void without one is refused before anything."""
        if not request_id:
            raise ValueError("a void needs the partner's request id: without one it would read as a lapse")
        now = self.ledger_time(conn)
        result, tx = self._release_hold(conn, partner_id, hold, request_id, "voided", now)
        append_events(conn, transaction_events([tx]))
        return result

    def _release_hold(self, conn: Connection, partner_id: str | None, hold: str, request_id: str | None,
                      final_state: str, now: datetime) -> tuple[SpendResult, PendingTransaction]:
        """Void a hold (final_state 'voided') or let it lapse ('expired'), dated `now` (this transaction's
        ledger time); the caller writes its event."""
        row, shard, allocations = self._open_hold(conn, partner_id, hold)
        postings = ledger.release_postings(str(row.member_id), allocations)
        tx = PendingTransaction(uuid7(), "void", row.partner_id, row.member_id, shard, row.points, postings, now,
                                request_id=request_id, related_id=row.hold_id)
        write_transactions(conn, [tx])
        apply_lot_deltas(conn, postings)
        conn.execute(text("UPDATE holds SET state = :s WHERE member_id = :m AND hold_id = :h"),
                     {"m": row.member_id, "h": row.hold_id, "s": final_state})
        return SpendResult(str(tx.tx_id), 0, row.points, 0, self.network_currency), tx

    def _write(self, conn: Connection, txs: Sequence[PendingTransaction], earlier: Sequence[EventRow] = ()) -> None:
        """Write `txs` to the journal and their events (after `earlier` events of this transaction) to the outbox,
        in one statement: every partner's sequence head is moved once, after the shard heads are locked."""
        write_transactions(conn, txs)
        append_events(conn, [*earlier, *transaction_events(txs)])

    def take_spendable(self, conn: Connection, member_id: uuid.UUID, points: int,
                       now: datetime) -> tuple[list[Allocation], list[EventRow]]:
        """`points` of the member's spendable lots, taken as a redemption takes them (lapsed holds released first),
        for a transfer (network.store.transfers). The caller holds the member's lock and writes the lapsed holds'
        events. INSUFFICIENT_POINTS when they do not cover `points`."""
        lapsed = self._lapse_holds(conn, member_id=member_id, now=now)
        return self._allocate(conn, member_id, points, now), lapsed

    # --- reversals ---------------------------------------------------------------------------------------

    def reverse(self, conn: Connection, partner_id: str, transaction: str, points: int, reason: str,
                request_id: str | None, *, member_id: str = "") -> ReverseResult:
        """Reverse `transaction`, found by its member when `member_id` is given (one shard of a Citus cluster: a
        transaction not that member's is not found), else by its id alone (a read of every shard)."""
        original_id = parse_uuid(transaction, "transaction_id")
        now = self.ledger_time(conn)
        found = "SELECT tx_id, kind, partner_id, member_id, related_id, amount_minor, created_at FROM journal "
        original = conn.execute(text(found + "WHERE member_id = :m AND tx_id = :t"),
                                {"m": parse_uuid(member_id, "member_id"), "t": original_id}).first() if member_id \
            else conn.execute(text(found + "WHERE tx_id = :t"), {"t": original_id}).first()
        if original is None:
            raise errors.not_found("transaction", transaction, "TRANSACTION_NOT_FOUND")
        if original.partner_id != partner_id:
            raise errors.denied("NOT_YOUR_TRANSACTION", f"transaction {transaction} belongs to another partner",
                                transaction_id=transaction)
        # a bonus (an earn related to the earn it rewards) is taken back with that earn, never on its own
        _refuse(rules.not_reversible("bonus" if original.kind == "earn" and original.related_id else original.kind,
                                     transaction))
        shard = self._lock_member(conn, original.member_id)
        member = str(original.member_id)
        # Everything after the original names its member (m): its lots and postings, its bonuses and earlier
        # reversals are all the member's, so on a Citus cluster each statement goes to the member's shard
        owner = {"t": original_id, "m": original.member_id}
        if original.kind == "earn":
            lot = conn.execute(text(
                "SELECT l.lot_id, l.points, l.remaining, l.state, "
                "(SELECT coalesce(sum(p.points), 0) FROM postings p WHERE p.member_id = :m AND p.lot_id = l.lot_id "
                "AND p.account = 'issuer') AS issuer_sum FROM lots l WHERE l.member_id = :m AND l.lot_id = "
                "(SELECT lot_id FROM postings WHERE member_id = :m AND tx_id = :t AND account = 'member')"),
                owner).first()
            reversible = -int(lot.issuer_sum)  # issuer postings: -points at earn, +r per reversal
            earn_reversal = _refuse(rules.plan_earn_reversal(transaction, reversible, lot.remaining, points))
            amount, left, reversible_now = earn_reversal.points, earn_reversal.left, earn_reversal.reversible_now
            postings = ledger.reverse_earn_postings(member, partner_id, str(lot.lot_id), amount)
            bonus_reversed = []
            for bonus in conn.execute(text(
                    "SELECT l.lot_id, l.issuer_id, l.points, l.remaining, -(SELECT coalesce(sum(p.points), 0) "
                    "FROM postings p WHERE p.member_id = :m AND p.lot_id = l.lot_id AND p.account = 'issuer') "
                    "AS reversible FROM journal j JOIN lots l ON l.earn_tx_id = j.tx_id AND l.member_id = :m "
                    "WHERE j.member_id = :m AND j.related_id = :t AND j.kind = 'earn' ORDER BY l.lot_id"), owner):
                take = bonus_reversal(int(lot.points), left, int(bonus.points), int(bonus.reversible),
                                      int(bonus.remaining))
                if take:
                    postings += ledger.reverse_earn_postings(member, bonus.issuer_id, str(bonus.lot_id), take)
                    if take == int(bonus.reversible):
                        bonus_reversed.append(bonus.lot_id)
            tx_points = -sum(p.points for p in postings if p.account == ledger.ISSUER)
        else:
            consumed = [Allocation(str(r.lot_id), r.issuer_id, int(r.points)) for r in conn.execute(text(
                "SELECT p.lot_id, l.issuer_id, sum(p.points) AS points FROM postings p JOIN lots l USING (lot_id) "
                "WHERE p.member_id = :m AND l.member_id = :m AND p.account = 'redeemer' AND (p.tx_id = :t OR "
                "p.tx_id IN (SELECT tx_id FROM journal WHERE member_id = :m AND related_id = :t AND kind = 'reverse')) "
                "GROUP BY p.lot_id, l.issuer_id HAVING sum(p.points) > 0 ORDER BY p.lot_id"), owner)]
            redemption_reversal = _refuse(rules.plan_redemption_reversal(transaction, consumed, points))
            amount, left = redemption_reversal.points, redemption_reversal.left
            reversible_now = left
            postings = ledger.reverse_redemption_postings(member, partner_id, redemption_reversal.shares)
            tx_points = amount
        tx_id = uuid7()
        self._write(conn, [PendingTransaction(tx_id, "reverse", partner_id, original.member_id, shard, tx_points,
                                                   postings, now, receipt_ref=reason[:64], request_id=request_id,
                                                   related_id=original_id)])
        apply_lot_deltas(conn, postings)
        if original.kind == "earn" and left == 0:
            conn.execute(text("UPDATE lots SET state = 'reversed' WHERE member_id = :m AND lot_id = :l"),
                         {"m": original.member_id, "l": lot.lot_id})
        if original.kind == "earn" and original.amount_minor is not None and self.programme is not None:
            # a purchase returned no longer qualifies: its month's qualifying points go down (no instant downgrade:
            # requalification is a schedule's job)
            conn.execute(text("INSERT INTO member_qualifying AS q (member_id, month, points) VALUES (:m, :d, :p) "
                              "ON CONFLICT (member_id, month) DO UPDATE SET points = q.points + excluded.points"),
                         {"m": original.member_id, "d": original.created_at.astimezone(timezone.utc).date().replace(day=1),
                          "p": -amount})
        if original.kind == "earn" and bonus_reversed:
            conn.execute(text("UPDATE lots SET state = 'reversed' WHERE member_id = :m AND lot_id IN :ids")
                         .bindparams(bindparam("ids", expanding=True)),
                         {"m": original.member_id, "ids": bonus_reversed})
        elif original.kind != "earn":
            # points returned into lots that expired meanwhile come back spendable only until the lot's expiry
            conn.execute(text("UPDATE lots SET state = 'active' WHERE member_id = :m AND lot_id IN :ids "
                              "AND state = 'expired'").bindparams(bindparam("ids", expanding=True)),
                         {"m": original.member_id, "ids": [uuid.UUID(p.lot_id) for p in postings]})
        return ReverseResult(str(tx_id), amount, reversible_now)

    # --- housekeeping ------------------------------------------------------------------------------------

    def activate_due_lots(self, conn: Connection) -> int:
        return conn.execute(text("UPDATE lots SET state = 'active' WHERE state = 'pending' AND available_at <= :now"),
                            {"now": self.clock()}).rowcount

    def expire_lots(self, conn: Connection, limit: int = 5000) -> int:
        """Expire up to `limit` lots past their expiry under their issuer's policy (network.store.expiry: a fixed or
        calendar lot's expires_at, an inactivity lot's months after the member's last activity); lots with open
        holds wait until the hold resolves. The remaining points go to each issuer's breakage."""
        now = self.ledger_time(conn)
        rows = conn.execute(expiry.EXPIRED_LOTS, {"now": now, "limit": limit}).all()
        txs, postings = [], []
        for r in rows:
            if r.remaining == 0:
                continue
            lot_postings = ledger.expire_postings(str(r.member_id), r.issuer_id, str(r.lot_id), r.remaining)
            postings += lot_postings
            txs.append(PendingTransaction(uuid7(), "expire", r.issuer_id, r.member_id, r.shard, -r.remaining, lot_postings, now,
                                  related_id=r.lot_id))
        self._write(conn, txs)
        apply_lot_deltas(conn, postings)
        if rows:
            conn.execute(text("UPDATE lots SET state = 'expired' WHERE lot_id IN :ids")
                         .bindparams(bindparam("ids", expanding=True)), {"ids": [r.lot_id for r in rows]})
        return len(rows)

    def write_off_member(self, conn: Connection, member_id: uuid.UUID) -> dict[str, int]:
        """Breakage of everything a member holds (an erased account): open holds released, then every lot's
        remaining points expired now, each lot by an expire transaction against its issuer exactly as expiry
        writes it (settlement sees breakage). Returns the points written off per issuer. A lot without an expiry
        date keeps its state with nothing left in it (state 'expired' is only for lots that carry a date)."""
        now = self.ledger_time(conn)
        shard = self._lock_member(conn, member_id)
        holds = conn.execute(text("SELECT hold_id FROM holds WHERE member_id = :m AND state = 'open' ORDER BY hold_id"),
                             {"m": member_id}).all()
        released = [self._release_hold(conn, None, str(r.hold_id), None, "expired", now)[1] for r in holds]
        lapsed = transaction_events(released, lapsed=True)
        rows = conn.execute(text(
            "SELECT lot_id, issuer_id, remaining, expires_at FROM lots WHERE member_id = :m "
            "AND state IN ('active','pending') AND remaining > 0 ORDER BY lot_id"), {"m": member_id}).all()
        txs, postings, breakage = [], [], {}
        for r in rows:
            lot_postings = ledger.expire_postings(str(member_id), r.issuer_id, str(r.lot_id), r.remaining)
            postings += lot_postings
            txs.append(PendingTransaction(uuid7(), "expire", r.issuer_id, member_id, shard, -r.remaining, lot_postings,
                                          now, related_id=r.lot_id))
            breakage[r.issuer_id] = breakage.get(r.issuer_id, 0) + int(r.remaining)
        self._write(conn, txs, lapsed)
        apply_lot_deltas(conn, postings)
        dated = [r.lot_id for r in rows if r.expires_at is not None]
        if dated:
            conn.execute(text("UPDATE lots SET state = 'expired' WHERE lot_id IN :ids")
                         .bindparams(bindparam("ids", expanding=True)), {"ids": dated})
        return breakage

    def warn_expiring(self, conn: Connection, lead: timedelta, limit: int = 5000) -> int:
        """Warn issuers of their members' points expiring within `lead` (network.store.expiry.warn_expiring: a
        points.expiring event per lot, once per lot and expiry); return how many lots were warned about."""
        return len(expiry.warn_expiring(conn, self.clock(), lead, limit))

    def expire_holds(self, conn: Connection, limit: int = 1000, member_id: uuid.UUID | None = None) -> int:
        """Release uncaptured holds past their expiry (all of them, or one member's)."""
        lapsed = self._lapse_holds(conn, limit, member_id)
        append_events(conn, lapsed)
        return len(lapsed)

    def _lapse_holds(self, conn: Connection, limit: int = 1000, member_id: uuid.UUID | None = None,
                     now: datetime | None = None) -> list[EventRow]:
        """Release uncaptured holds past their expiry; return their hold.lapsed events, for the caller to write.
        `now`: the caller's ledger time, when it took it already (else it is taken here)."""
        ledger_now = now if now is not None else self.ledger_time(conn)
        where = "AND member_id = :m " if member_id else ""
        rows = conn.execute(text(f"SELECT hold_id FROM holds WHERE state = 'open' AND expires_at <= :now {where}"
                                 "ORDER BY expires_at LIMIT :limit"),
                            {"now": self.clock(), "limit": limit, "m": member_id}).all()
        txs = [self._release_hold(conn, None, str(r.hold_id), None, "expired", ledger_now)[1] for r in rows]
        return transaction_events(txs, lapsed=True)

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
            f"FROM (SELECT l.state, l.remaining, l.held, l.available_at, {expiry.LOT_EXPIRY} AS expires_at, "
            "        (l.state = 'active' OR (l.state = 'pending' AND l.available_at <= :now)) "
            f"        AND ({expiry.LOT_EXPIRY} IS NULL OR {expiry.LOT_EXPIRY} > :now) AS spendable "
            f"      FROM lots l {expiry.LOT_EXPIRY_JOINS} WHERE l.member_id = :m) l"),
            {"m": member_id, "now": now, "soon": now + rules.EXPIRING_WINDOW}).one()
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


def build_ledger(engine: Engine, settings: Settings) -> Ledger:
    """The ledger as the server, the settlement worker and the console use it."""
    return Ledger(engine, ContractBook(engine, ttl_seconds=settings.contract_cache_seconds),
                  point_value_minor=settings.point_value_minor,
                  network_currency=settings.network_currency, shards=settings.ledger_shards,
                  programme=ProgrammeBook(engine, ttl_seconds=settings.contract_cache_seconds),
                  idempotency_retention_seconds=settings.idempotency_retention_seconds)
