"""Partner events: what the outbox says happened to a partner, and which change of the ledger each one reports.

Every ledger transaction is one event for the partner it belongs to (the journal row's partner: the earner, the
redeemer, the issuer whose points expired), named after what happened, except the transactions between members
(MEMBER_ONLY_KINDS: a transfer's two rows), which concern no partner: the lots keep their issuer, so no partner's
liability, statement or settlement changes, and telling the issuer which members move points would tell it about
members it may not know; a hold the network released because it lapsed is `hold.lapsed`, not a void; points about
to expire are `points.expiring` (a warning to their issuer). The network's own acts that concern a partner (a key
registered or revoked, a
statement issued, a dispute resolved, a payment submitted, confirmed or failed) are events too, with a subject (the
key, statement, dispute or payment id) and details. Events are numbered 1, 2, ... per partner without gaps.

Credit use: a partner with a credit limit is told when its use (its exposure, the money value of its outstanding
points less its collateral, as a share of the limit: the same exposure the limit is checked on, so 100 % is the
most an earn may reach) crosses 80 % and 100 % upward, by the earn that crosses it (`credit.threshold_crossed`,
detail `threshold_percent`). Each crossing is announced once; after use falls back below a threshold, crossing it
again is announced again.
"""

from __future__ import annotations

TRANSACTION_EVENTS = {
    "earn": "points.earned",
    "redeem": "points.redeemed",
    "hold": "redemption.authorized",
    "capture": "redemption.captured",
    "void": "redemption.voided",
    "reverse": "transaction.reversed",
    "expire": "points.expired",
    "adjust": "points.adjusted",
    "transfer": "points.transferred",
}
# Ledger transactions between members that are no partner's event (journal partner network.core.ledger.NO_PARTNER).
MEMBER_ONLY_KINDS = frozenset({"transfer"})
HOLD_LAPSED = "hold.lapsed"
# Sent to the issuer ahead of its points' expiry (once per lot and expiry instant): subject the lot, details the
# member, the points and the expiry (network.store.expiry.warn_expiring).
POINTS_EXPIRING = "points.expiring"
KEY_REGISTERED = "key.registered"
KEY_REVOKED = "key.revoked"
STATEMENT_ISSUED = "statement.issued"
DISPUTE_RESOLVED = "dispute.resolved"
PAYMENT_SUBMITTED = "payment.submitted"
PAYMENT_CONFIRMED = "payment.confirmed"
PAYMENT_FAILED = "payment.failed"
CREDIT_THRESHOLD_CROSSED = "credit.threshold_crossed"
EVENT_TYPES = frozenset({*TRANSACTION_EVENTS.values(), HOLD_LAPSED, POINTS_EXPIRING, KEY_REGISTERED, KEY_REVOKED,
                         STATEMENT_ISSUED, DISPUTE_RESOLVED, PAYMENT_SUBMITTED, PAYMENT_CONFIRMED, PAYMENT_FAILED,
                         CREDIT_THRESHOLD_CROSSED})

MAX_EVENTS_PAGE = 500  # events read (ListEvents page, WatchEvents read) at most at once


def transaction_event_type(kind: str, *, lapsed: bool = False) -> str:
    """The event a ledger transaction of `kind` is: a void the network made because the hold lapsed is a lapse."""
    if lapsed and kind == "void":
        return HOLD_LAPSED
    return TRANSACTION_EVENTS[kind]


# --- credit use ------------------------------------------------------------------------------------------------

CREDIT_THRESHOLDS = (80, 100)  # per cent of the credit limit whose upward crossing is announced


def credit_level(exposure_minor: int, credit_limit_minor: int | None) -> int:
    """The highest threshold (per cent) exposure has reached; 0 below the first, or without a (positive) limit."""
    if credit_limit_minor is None or credit_limit_minor <= 0:
        return 0
    return max((t for t in CREDIT_THRESHOLDS if exposure_minor * 100 >= t * credit_limit_minor), default=0)


def credit_crossings(announced_level: int, level_before: int, level_after: int) -> list[int]:
    """The thresholds to announce for an earn that moved use from `level_before` to `level_after`, given the level
    last announced. Use that fell meanwhile (redemptions, expiry, a higher limit) counts: a threshold is announced
    again when it is crossed again from below."""
    floor = min(announced_level, level_before)
    return [t for t in CREDIT_THRESHOLDS if floor < t <= level_after]
