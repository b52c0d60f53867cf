"""Transfers between members and donations to charity partners: the rules, as pure functions.

  who           a member transfers to another member: never to themselves, never to an unknown member (the store
                resolves the recipient). Neither side may be frozen: a member the operator froze neither sends,
                donates nor receives (MEMBER_FROZEN); a member without an active card neither sends nor donates nor
                receives, and a recipient named by a frozen or replaced card is refused (CARD_FROZEN, with the
                card's status): the card was reported lost, points sent to it would reach whoever holds it.
  how much      at least `min_points`; the points a member has sent today (UTC calendar day) plus these at most
                `max_points_per_day`, this month (UTC calendar month) at most `max_points_per_month`; at most
                `max_transfers_per_day` transfers a day (velocity). A limit of 0 is no limit, except the minimum
                (at least 1 point, always). Donations are not transfers: they count against none of these.
  which points  the sender's spendable lots in the order a redemption consumes them (network.core.ledger.allocate:
                earliest expiry first), the last one split; each moves to a new lot of the recipient with the same
                issuer, availability, expiry and issue instant (the lot's created_at, which clearing prices by), so
                provenance, and with it settlement, never changes hands (network.core.ledger.transfer_out_postings,
                transfer_in_postings).
  donation      a redemption at a partner flagged as a charity, started by the member (at least 1 point).

Anomaly flags for the console (computed by SQL in network.store.transfers, thresholds here):
  spend spree     redemptions at `spree_partners` or more distinct partners within `spree_window`
  transfer burst  `burst_transfers` or more transfers sent within `burst_window`
  failed PINs     `failed_pins` or more wrong PINs (at any partners) within `failed_pin_window`: as many as lock
                  verified spending by default (network.store.consent), counted across locks and right PINs
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from network.core.ledger import MAX_POINTS_PER_CALL
from network.core.rules import INVALID, PRECONDITION, Refusal

TRANSFER, DONATION = "transfer", "donation"

# Member notifications (the member outbox), one type per side of a transfer and for a donation.
TRANSFER_SENT, TRANSFER_RECEIVED, DONATION_MADE = "transfer.sent", "transfer.received", "donation.made"
NOTIFICATION_TYPES = (TRANSFER_SENT, TRANSFER_RECEIVED, DONATION_MADE)
MAX_NOTIFICATIONS_PAGE = 200

MAX_IDEMPOTENCY_KEY = 64  # characters


@dataclass(frozen=True)
class TransferLimits:
    min_points: int
    max_points_per_day: int  # 0: no limit
    max_points_per_month: int  # 0: no limit
    max_transfers_per_day: int  # velocity; 0: no limit


@dataclass(frozen=True)
class SentSoFar:
    """What the sender has transferred in the current windows (before this transfer)."""

    points_today: int
    points_this_month: int
    transfers_today: int


def day_start(now: datetime) -> datetime:
    """The start of `now`'s UTC calendar day (the per-day limits' window: [day_start, now])."""
    utc = now.astimezone(timezone.utc)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    """The start of `now`'s UTC calendar month (the per-month limit's window)."""
    return day_start(now).replace(day=1)


def _limit(limit: str, message: str, **metadata: str) -> Refusal:
    return Refusal(PRECONDITION, "TRANSFER_LIMIT_EXCEEDED", message, metadata=(("limit", limit), *metadata.items()))


def points_refusal(points: int) -> Refusal | None:
    """Any transfer or donation moves 1..MAX_POINTS_PER_CALL points."""
    if not 1 <= points <= MAX_POINTS_PER_CALL:
        return Refusal(INVALID, "INVALID_ARGUMENT", f"must be between 1 and {MAX_POINTS_PER_CALL}", "points")
    return None


def idempotency_key_refusal(key: str) -> Refusal | None:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        return Refusal(INVALID, "INVALID_ARGUMENT", f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters",
                       "idempotency_key")
    return None


def transfer_refusal(sender_id: str, recipient_id: str, points: int, limits: TransferLimits,
                     sent: SentSoFar) -> Refusal | None:
    """Whether a transfer of `points` from sender to recipient is refused (the balance is checked when the lots
    are taken: INSUFFICIENT_POINTS)."""
    refusal = points_refusal(points)
    if refusal is not None:
        return refusal
    if sender_id == recipient_id:
        return Refusal(PRECONDITION, "TRANSFER_TO_SELF", "a member cannot transfer points to themselves",
                       metadata=(("member_id", sender_id),))
    if points < max(limits.min_points, 1):
        return Refusal(PRECONDITION, "TRANSFER_BELOW_MINIMUM",
                       f"{points} points is below the minimum transfer of {limits.min_points}",
                       metadata=(("minimum", str(limits.min_points)),))
    if limits.max_transfers_per_day and sent.transfers_today + 1 > limits.max_transfers_per_day:
        return _limit("transfers_per_day", f"{sent.transfers_today} transfers sent today, at most "
                      f"{limits.max_transfers_per_day} a day", allowed=str(limits.max_transfers_per_day))
    if limits.max_points_per_day and sent.points_today + points > limits.max_points_per_day:
        return _limit("points_per_day", f"{sent.points_today} points sent today, {points} more would pass the "
                      f"daily limit of {limits.max_points_per_day}", allowed=str(limits.max_points_per_day))
    if limits.max_points_per_month and sent.points_this_month + points > limits.max_points_per_month:
        return _limit("points_per_month", f"{sent.points_this_month} points sent this month, {points} more would "
                      f"pass the monthly limit of {limits.max_points_per_month}",
                      allowed=str(limits.max_points_per_month))
    return None


SENDER, RECIPIENT = "sender", "recipient"


def frozen_refusal(role: str, member_id: str, member_frozen: bool, has_active_card: bool,
                   card_number: str | None = None, card_status: str | None = None) -> Refusal | None:
    """Whether the sender (a transfer or donation) or the recipient (a transfer) is frozen: MEMBER_FROZEN for a
    member the operator froze; CARD_FROZEN for a recipient named by a card that is not active (`card_status`:
    frozen or replaced), or a member with no active card at all."""
    # the messages reach the other member in the portal: a recipient's are neutral (no operator action named)
    if member_frozen:
        message = ("your account is frozen by the operator: no transfers or donations until it is unfrozen"
                   if role == SENDER else "the recipient cannot receive points at the moment")
        return Refusal(PRECONDITION, "MEMBER_FROZEN", message, metadata=(("member_id", member_id), ("role", role)))
    if card_number is not None and card_status != "active":
        return Refusal(PRECONDITION, "CARD_FROZEN", f"card {card_number} is {card_status}: ask the recipient for "
                       "their current card number", metadata=(("card_number", card_number),
                                                              ("card_status", str(card_status)),
                                                              ("member_id", member_id), ("role", role)))
    if not has_active_card:
        message = ("you have no active card: unfreeze your card (Security) to transfer or donate" if role == SENDER
                   else "the recipient cannot receive points at the moment")
        return Refusal(PRECONDITION, "CARD_FROZEN", message, metadata=(("member_id", member_id), ("role", role)))
    return None


@dataclass(frozen=True)
class AnomalyThresholds:
    spree_partners: int = 3
    spree_window: timedelta = timedelta(minutes=10)
    burst_transfers: int = 5
    burst_window: timedelta = timedelta(hours=1)
    failed_pins: int = 5
    failed_pin_window: timedelta = timedelta(hours=1)
    lookback: timedelta = timedelta(days=7)  # how far back the console looks for flags
