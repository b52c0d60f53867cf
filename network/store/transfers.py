"""Member-to-member transfers and donations to charity partners, in one database transaction each, and the member
outbox (network.core.transfers holds the rules).

A transfer is two journal rows of kind 'transfer', related to the transfer's id (member_transfers):
  sending    on the sender's shard (member: the sender, points: -n): each source lot's points go to the transfer
             account of the lot's issuer (network.core.ledger.transfer_out_postings)
  receiving  on the recipient's shard (member: the recipient, points: +n): the transfer account gives them back into
             a new lot of the recipient per source lot, same issuer, availability, expiry and issue instant
             (transfer_in_postings; the new lots are hashed with this row, as an earn's lot is with the earn)
so every shard's chain holds only its own member's rows, every row balances, and per source lot the transfer
account is zero again once both rows are written (`coalition ledger verify` checks it). Both rows belong to no
partner (network.core.ledger.NO_PARTNER) and are no partner's event (network.core.events.MEMBER_ONLY_KINDS).

A donation is a redemption at a partner flagged as a charity (partners.charity), written by
network.store.ledger.Ledger.redeem like any redemption (so the charity gets its points.redeemed event, clears and
settles it, and sees it on its statement), plus its member_transfers row and the member's notification.

Locks: ledger time first (network.store.ledger_time), then the members' rows in member id order (a transfer locks
both, so two members transferring to each other never deadlock), then the shard heads (in shard order).
Idempotency: a (member, idempotency key) pair is used once; the same request again returns the stored result
(`replayed`), another request with that key is refused (IDEMPOTENCY_KEY_REUSED), checked under the member's lock.
Refusals are network.errors.DomainError (reason from partners/reasons.py) and write nothing.
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import datetime
from typing import Iterator, NamedTuple

import grpc
from sqlalchemy import Connection, Engine, bindparam, text
from sqlalchemy.orm import Session
from uuid_utils.compat import uuid7

from network import errors
from network.core import ledger as core_ledger
from network.core import rules, transfers
from network.core.ledger import Allocation, LotTerms
from network.core.results import SpendRefs
from network.settings import NetworkSettings, get_settings
from network.store.contracts import ContractBook
from network.store.credentials import card_standing
from network.store.events import append_events
from network.store.journal import PendingTransaction, apply_lot_deltas, write_transactions
from network.store.ledger import Ledger, parse_uuid, utcnow

Target = Engine | Session | Connection


class MovedLot(NamedTuple):
    """One lot's part of a transfer or donation."""

    lot_id: str  # the sender's lot the points left
    issuer_id: str
    points: int
    new_lot_id: str | None  # the recipient's new lot (a transfer); None for a donation
    expires_at: datetime | None


class TransferResult(NamedTuple):
    transfer_id: str
    kind: str  # network.core.transfers.TRANSFER or DONATION
    journal_ids: tuple[str, ...]  # a transfer: (sending, receiving); a donation: (its redemption,)
    points: int
    lots: tuple[MovedLot, ...]
    replayed: bool = False  # the same request was answered before: this is its stored result


class Notification(NamedTuple):
    member_id: str
    seq: int
    type: str  # network.core.transfers.NOTIFICATION_TYPES
    created_at: datetime
    transfer_id: str | None
    detail: dict


class AnomalyFlag(NamedTuple):
    member_id: str
    flag: str  # SPEND_SPREE, TRANSFER_BURST or FAILED_PINS
    count: int  # distinct partners, transfers or wrong PINs within the window (the most seen)
    last_at: datetime


MAX_NOTIFICATIONS_PAGE = transfers.MAX_NOTIFICATIONS_PAGE
SPEND_SPREE, TRANSFER_BURST, FAILED_PINS = "spend spree", "transfer burst", "failed PINs"
ANOMALY_THRESHOLDS = transfers.AnomalyThresholds()


def transfer_limits(settings: NetworkSettings) -> transfers.TransferLimits:
    return transfers.TransferLimits(settings.transfer_min_points, settings.transfer_max_points_per_day,
                                    settings.transfer_max_points_per_month, settings.transfer_max_per_day)


@contextmanager
def _connection(target: Target) -> Iterator[Connection]:
    """An Engine: a transaction of our own, committed at the end (rolled back on a refusal). A Session or
    Connection: the caller's transaction, which the caller commits or rolls back."""
    if isinstance(target, Engine):
        with target.begin() as conn:
            yield conn
    elif isinstance(target, Session):
        yield target.connection()
    else:
        yield target


def _refuse(refusal: rules.Refusal | None) -> None:
    if refusal is not None:
        raise errors.from_refusal(refusal)


def _ledger(conn: Connection, settings: NetworkSettings, now: datetime | None) -> Ledger:
    if now is not None and now.utcoffset() is None:
        raise errors.invalid("now", "must be timezone-aware")
    return Ledger(conn.engine, ContractBook(conn.engine, ttl_seconds=settings.contract_cache_seconds),
                  point_value_minor=settings.point_value_minor, network_currency=settings.network_currency,
                  shards=settings.ledger_shards, clock=(lambda: now) if now is not None else utcnow)


def _member_id(value: str | uuid.UUID, field_name: str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else parse_uuid(value, field_name)


def resolve_recipient(conn: Connection, to: str | uuid.UUID) -> uuid.UUID:
    """The recipient by member id or card number (any card the member owns or owned: a frozen or replaced card is
    found, and refused once the members are locked, see `_refuse_frozen`); RECIPIENT_UNKNOWN when there is none."""
    return _resolve(conn, to)[0]


def _resolve(conn: Connection, to: str | uuid.UUID) -> tuple[uuid.UUID, str | None]:
    """The recipient's member id, and the card number that named them (None when named by member id)."""
    row, card = None, None
    if isinstance(to, uuid.UUID):
        row = conn.execute(text("SELECT member_id FROM members WHERE member_id = :m"), {"m": to}).first()
    else:
        value = to.strip().replace(" ", "")
        try:
            row = conn.execute(text("SELECT member_id FROM members WHERE member_id = :m"),
                               {"m": uuid.UUID(value)}).first()
        except ValueError:
            row = conn.execute(text("SELECT member_id FROM cards WHERE card_number = :c"), {"c": value}).first()
            card = value
    if row is None:
        raise errors.DomainError(grpc.StatusCode.NOT_FOUND, "RECIPIENT_UNKNOWN",
                                 "no member with that card number or member id", metadata={"recipient": str(to)[:64]})
    return row.member_id, card


def _refuse_frozen(conn: Connection, member_id: uuid.UUID, role: str, card_number: str | None = None) -> None:
    """MEMBER_FROZEN or CARD_FROZEN (network.core.transfers.frozen_refusal) for a frozen sender or recipient, read
    under the member's row lock: a freeze (network.store.credentials, which takes the same lock) committed on any
    server is seen here, and one in flight is waited for."""
    frozen = conn.execute(text("SELECT frozen_at IS NOT NULL FROM members WHERE member_id = :m"),
                          {"m": member_id}).scalar_one()
    cards = card_standing(conn, member_id, card_number)
    _refuse(transfers.frozen_refusal(role, str(member_id), frozen, cards.has_active_card, card_number,
                                     cards.card_status))


def _lock_members(conn: Connection, member_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Lock the members' rows in member id order; their shards. MEMBER_NOT_FOUND for a member that does not exist."""
    rows = conn.execute(text("SELECT member_id, shard FROM members WHERE member_id IN :ids ORDER BY member_id "
                             "FOR UPDATE").bindparams(bindparam("ids", expanding=True)),
                        {"ids": sorted(set(member_ids))}).all()
    shards = {r.member_id: r.shard for r in rows}
    for member_id in member_ids:
        if member_id not in shards:
            raise errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")
    return shards


def _stored(conn: Connection, member_id: uuid.UUID, key: str, kind: str, recipient_id: uuid.UUID | None,
            charity_id: str | None, points: int) -> TransferResult | None:
    """The stored result of this request (same member, key, kind, counterparty and points); None for a new key;
    IDEMPOTENCY_KEY_REUSED when the key was used for another request."""
    row = conn.execute(text("SELECT transfer_id, kind, recipient_id, charity_id, points, sent_tx_id, received_tx_id "
                            "FROM member_transfers WHERE member_id = :m AND idempotency_key = :k"),
                       {"m": member_id, "k": key}).first()
    if row is None:
        return None
    if (row.kind, row.recipient_id, row.charity_id, row.points) != (kind, recipient_id, charity_id, points):
        raise errors.key_reused(key)
    if row.kind == transfers.TRANSFER:
        lots = conn.execute(text(
            "SELECT l.source_lot_id::text AS lot_id, l.issuer_id, l.points, l.lot_id::text AS new_lot_id, l.expires_at "
            "FROM postings p JOIN lots l USING (lot_id) WHERE p.tx_id = :t AND p.account = 'member' ORDER BY p.line"),
            {"t": row.received_tx_id})
        journal_ids = (str(row.sent_tx_id), str(row.received_tx_id))
    else:
        lots = conn.execute(text(
            "SELECT p.lot_id::text AS lot_id, l.issuer_id, p.points, NULL AS new_lot_id, l.expires_at "
            "FROM postings p JOIN lots l USING (lot_id) WHERE p.tx_id = :t AND p.account = 'redeemer' ORDER BY p.line"),
            {"t": row.sent_tx_id})
        journal_ids = (str(row.sent_tx_id),)
    return TransferResult(str(row.transfer_id), row.kind, journal_ids, row.points,
                          tuple(MovedLot(*r) for r in lots), replayed=True)


def _sent_so_far(conn: Connection, member_id: uuid.UUID, now: datetime) -> transfers.SentSoFar:
    day, month = transfers.day_start(now), transfers.month_start(now)
    row = conn.execute(text(
        "SELECT coalesce(sum(points) FILTER (WHERE created_at >= :day), 0) AS today, coalesce(sum(points), 0) AS month, "
        "count(*) FILTER (WHERE created_at >= :day) AS transfers FROM member_transfers "
        "WHERE member_id = :m AND kind = 'transfer' AND created_at >= :month AND created_at <= :now"),
        {"m": member_id, "day": day, "month": month, "now": now}).one()
    return transfers.SentSoFar(int(row.today), int(row.month), int(row.transfers))


def _notify(conn: Connection, member_id: uuid.UUID, kind: str, at: datetime, transfer_id: uuid.UUID,
            detail: dict) -> None:
    """Append to the member's outbox (the caller holds the member's lock: numbers follow without gaps)."""
    conn.execute(text("INSERT INTO member_notifications (member_id, seq, type, created_at, transfer_id, detail) "
                      "SELECT :m, coalesce(max(seq), 0) + 1, :t, :at, :x, CAST(:d AS jsonb) FROM member_notifications "
                      "WHERE member_id = :m"),
                 {"m": member_id, "t": kind, "at": at, "x": transfer_id, "d": json.dumps(detail, sort_keys=True)})


def _record(conn: Connection, transfer_id: uuid.UUID, kind: str, member_id: uuid.UUID, key: str,
            recipient_id: uuid.UUID | None, charity_id: str | None, points: int, sent_tx_id: uuid.UUID,
            received_tx_id: uuid.UUID | None, at: datetime) -> None:
    conn.execute(text("INSERT INTO member_transfers (transfer_id, kind, member_id, idempotency_key, recipient_id, "
                      "charity_id, points, sent_tx_id, received_tx_id, created_at) "
                      "VALUES (:id, :kind, :m, :k, :r, :c, :n, :s, :rx, :at)"),
                 {"id": transfer_id, "kind": kind, "m": member_id, "k": key, "r": recipient_id, "c": charity_id,
                  "n": points, "s": sent_tx_id, "rx": received_tx_id, "at": at})


def transfer_points(engine_or_session: Target, from_member_id: str | uuid.UUID, to: str | uuid.UUID, points: int,
                    idempotency_key: str, now: datetime | None = None, *,
                    settings: NetworkSettings | None = None) -> TransferResult:
    """Move `points` of the sender's spendable points to the recipient (`to`: a card number or member id; the
    portal resolves an e-mail to a member id first), lots keeping their issuer and expiry; notify both members.

    Refusals (nothing written): INVALID_ARGUMENT (points, idempotency_key), MEMBER_NOT_FOUND (sender),
    RECIPIENT_UNKNOWN, MEMBER_FROZEN and CARD_FROZEN (either side, `role` in the metadata), TRANSFER_TO_SELF,
    TRANSFER_BELOW_MINIMUM, TRANSFER_LIMIT_EXCEEDED (limit: transfers_per_day, points_per_day, points_per_month),
    INSUFFICIENT_POINTS, IDEMPOTENCY_KEY_REUSED. `now`: the ledger's clock (tests);
    settings: the limits and ledger settings (default: from the environment)."""
    settings = settings or get_settings()
    _refuse(transfers.points_refusal(points))
    _refuse(transfers.idempotency_key_refusal(idempotency_key))
    sender = _member_id(from_member_id, "from_member_id")
    with _connection(engine_or_session) as conn:
        network_ledger = _ledger(conn, settings, now)
        when = network_ledger.ledger_time(conn)
        recipient, card = _resolve(conn, to)
        shards = _lock_members(conn, [sender, recipient])
        stored = _stored(conn, sender, idempotency_key, transfers.TRANSFER, recipient, None, points)
        if stored is not None:
            return stored
        _refuse_frozen(conn, sender, transfers.SENDER)
        _refuse_frozen(conn, recipient, transfers.RECIPIENT, card)
        _refuse(transfers.transfer_refusal(str(sender), str(recipient), points, transfer_limits(settings),
                                           _sent_so_far(conn, sender, when)))
        taken, lapsed = network_ledger.take_spendable(conn, sender, points, when)
        return _write_transfer(conn, sender, recipient, shards, points, idempotency_key, taken, when, lapsed)


def _write_transfer(conn: Connection, sender: uuid.UUID, recipient: uuid.UUID, shards: dict[uuid.UUID, int],
                    points: int, key: str, taken: list[Allocation], when: datetime, lapsed: list) -> TransferResult:
    terms = {str(r.lot_id): r for r in conn.execute(
        text("SELECT lot_id, available_at, expires_at, created_at FROM lots WHERE lot_id IN :ids")
        .bindparams(bindparam("ids", expanding=True)), {"ids": [uuid.UUID(a.lot_id) for a in taken]})}
    transfer_id, sent_id, received_id = uuid7(), uuid7(), uuid7()
    new_lot_ids = [str(uuid7()) for _ in taken]
    created = tuple(LotTerms(new_id, str(recipient), a.issuer_id, a.points, terms[a.lot_id].available_at,
                             terms[a.lot_id].expires_at, terms[a.lot_id].created_at)
                    for a, new_id in zip(taken, new_lot_ids))
    sent_postings = core_ledger.transfer_out_postings(str(sender), taken)
    received_postings = core_ledger.transfer_in_postings(str(recipient), taken, new_lot_ids)
    conn.execute(text("INSERT INTO lots (lot_id, member_id, issuer_id, earn_tx_id, points, remaining, held, state, "
                      "available_at, expires_at, created_at, source_lot_id) "
                      "VALUES (:lot_id, :member_id, :issuer_id, :tx, :points, 0, 0, 'active', :available_at, "
                      ":expires_at, :created_at, :source)"),
                 [{"lot_id": uuid.UUID(t.lot_id), "member_id": recipient, "issuer_id": t.issuer_id, "tx": received_id,
                   "points": t.points, "available_at": t.available_at, "expires_at": t.expires_at,
                   "created_at": t.created_at, "source": uuid.UUID(a.lot_id)} for t, a in zip(created, taken)])
    write_transactions(conn, [
        PendingTransaction(sent_id, "transfer", core_ledger.NO_PARTNER, sender, shards[sender], -points, sent_postings,
                           when, related_id=transfer_id),
        PendingTransaction(received_id, "transfer", core_ledger.NO_PARTNER, recipient, shards[recipient], points,
                           received_postings, when, related_id=transfer_id, created_lots=created)])
    append_events(conn, lapsed)
    apply_lot_deltas(conn, [*sent_postings, *received_postings])
    _record(conn, transfer_id, transfers.TRANSFER, sender, key, recipient, None, points, sent_id, received_id, when)
    _notify(conn, sender, transfers.TRANSFER_SENT, when, transfer_id,
            {"points": points, "to_member_id": str(recipient)})
    _notify(conn, recipient, transfers.TRANSFER_RECEIVED, when, transfer_id,
            {"points": points, "from_member_id": str(sender)})
    return TransferResult(str(transfer_id), transfers.TRANSFER, (str(sent_id), str(received_id)), points,
                          tuple(MovedLot(a.lot_id, a.issuer_id, a.points, new_id, terms[a.lot_id].expires_at)
                                for a, new_id in zip(taken, new_lot_ids)))


def donate_points(engine_or_session: Target, member_id: str | uuid.UUID, charity_partner_id: str, points: int,
                  idempotency_key: str, now: datetime | None = None, *,
                  settings: NetworkSettings | None = None) -> TransferResult:
    """Donate `points` to a charity partner: a redemption at the charity the member starts (network.store.ledger
    Ledger.redeem: earliest-expiring lots first, the charity's points.redeemed event, settled like any redemption);
    the member is notified.

    Refusals (nothing written): INVALID_ARGUMENT, MEMBER_NOT_FOUND, MEMBER_FROZEN, CARD_FROZEN, NOT_A_CHARITY,
    INSUFFICIENT_POINTS, IDEMPOTENCY_KEY_REUSED, and the redemption's own (NO_CONTRACT, BASKET_CAP_EXCEEDED: a
    charity's contract should not cap the basket share)."""
    settings = settings or get_settings()
    _refuse(transfers.points_refusal(points))
    _refuse(transfers.idempotency_key_refusal(idempotency_key))
    member = _member_id(member_id, "member_id")
    with _connection(engine_or_session) as conn:
        network_ledger = _ledger(conn, settings, now)
        when = network_ledger.ledger_time(conn)
        charity = conn.execute(text("SELECT charity, status FROM partners WHERE partner_id = :p"),
                               {"p": charity_partner_id}).first()
        if charity is None or not charity.charity or charity.status != "active":
            raise errors.precondition("NOT_A_CHARITY", f"partner {charity_partner_id} is not a charity accepting "
                                      "donations", partner_id=charity_partner_id[:32])
        _lock_members(conn, [member])
        stored = _stored(conn, member, idempotency_key, transfers.DONATION, None, charity_partner_id, points)
        if stored is not None:
            return stored
        _refuse_frozen(conn, member, transfers.SENDER)
        spent = network_ledger.redeem(conn, charity_partner_id, str(member), points, SpendRefs(receipt_ref="donation"),
                                      None)
        donation_id, redeem_id = uuid7(), uuid.UUID(spent.transaction_id)
        _record(conn, donation_id, transfers.DONATION, member, idempotency_key, None, charity_partner_id, points,
                redeem_id, None, when)
        _notify(conn, member, transfers.DONATION_MADE, when, donation_id,
                {"points": points, "charity_partner_id": charity_partner_id, "transaction_id": str(redeem_id)})
        lots = conn.execute(text(
            "SELECT p.lot_id::text AS lot_id, l.issuer_id, p.points, NULL AS new_lot_id, l.expires_at "
            "FROM postings p JOIN lots l USING (lot_id) WHERE p.tx_id = :t AND p.account = 'redeemer' ORDER BY p.line"),
            {"t": redeem_id})
        return TransferResult(str(donation_id), transfers.DONATION, (str(redeem_id),), points,
                              tuple(MovedLot(*r) for r in lots))


def member_notifications(session: Target, member_id: str | uuid.UUID, after: int = 0,
                         limit: int = 50) -> list[Notification]:
    """The member's notifications numbered after `after`, oldest first, at most `limit` (capped)."""
    member = _member_id(member_id, "member_id")
    if after < 0 or limit < 1:
        raise errors.invalid("after" if after < 0 else "limit", "after must be >= 0, limit >= 1")
    with _connection(session) as conn:
        rows = conn.execute(text("SELECT member_id, seq, type, created_at, transfer_id, detail FROM member_notifications "
                                 "WHERE member_id = :m AND seq > :after ORDER BY seq LIMIT :n"),
                            {"m": member, "after": after, "n": min(limit, transfers.MAX_NOTIFICATIONS_PAGE)})
        return [Notification(str(r.member_id), r.seq, r.type, r.created_at,
                             str(r.transfer_id) if r.transfer_id else None, dict(r.detail)) for r in rows]


def _windowed_count(table: str, at: str, kind: str, counted: str = "*") -> str:
    """Per member, the most rows of `table` matching `kind` (a condition on alias x) in any window of :window
    ending at one of them since :since, when at least :threshold, with the latest such row's time."""
    return f"""
SELECT j.member_id::text AS member_id, max(w.n) AS count, max(j.{at}) AS last_at
FROM {table} j CROSS JOIN LATERAL (
    SELECT count({counted}) AS n FROM {table} k
    WHERE k.member_id = j.member_id AND {kind.replace("x.", "k.")}
      AND k.{at} > j.{at} - :window AND k.{at} <= j.{at}) w
WHERE {kind.replace("x.", "j.")} AND j.{at} >= :since
GROUP BY j.member_id HAVING max(w.n) >= :threshold
"""


_SPEND_SPREE = _windowed_count("journal", "created_at", "x.kind IN ('redeem', 'capture')", "DISTINCT k.partner_id")
_TRANSFER_BURST = _windowed_count("member_transfers", "created_at", "x.kind = 'transfer'")
_FAILED_PINS = _windowed_count("verification_failures", "failed_at", "x.method = 'pin'")


def anomaly_flags(conn: Connection, since: datetime,
                  thresholds: transfers.AnomalyThresholds = ANOMALY_THRESHOLDS) -> list[AnomalyFlag]:
    """Members flagged since `since` (network.core.transfers: spend spree, transfer burst, failed PINs, the last
    from network.store.consent's verification_failures), most recent first."""
    flags = []
    for flag, sql, window, threshold in (
            (SPEND_SPREE, _SPEND_SPREE, thresholds.spree_window, thresholds.spree_partners),
            (TRANSFER_BURST, _TRANSFER_BURST, thresholds.burst_window, thresholds.burst_transfers),
            (FAILED_PINS, _FAILED_PINS, thresholds.failed_pin_window, thresholds.failed_pins)):
        flags += [AnomalyFlag(r.member_id, flag, int(r.count), r.last_at) for r in conn.execute(
            text(sql), {"window": window, "since": since, "threshold": threshold})]
    return sorted(flags, key=lambda f: (f.last_at, f.member_id, f.flag), reverse=True)
