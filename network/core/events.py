"""Partner events: what the outbox says happened to a partner, and which change of the ledger each one reports.

Every ledger transaction is one event for the partner it belongs to (the journal row's partner: the earner, the
redeemer, the issuer whose points expired), named after what happened; a hold the network released because it
lapsed is `hold.lapsed`, not a void; points about to expire are `points.expiring` (a warning to their issuer). The network's own acts that concern a partner (a key registered or revoked, a
statement issued, a dispute resolved, a payment submitted, confirmed or failed) are events too, with a subject (the
key, statement, dispute or payment id) and details. Events are numbered 1, 2, ... per partner without gaps.
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
EVENT_TYPES = frozenset({*TRANSACTION_EVENTS.values(), HOLD_LAPSED, POINTS_EXPIRING, KEY_REGISTERED, KEY_REVOKED, STATEMENT_ISSUED,
                         DISPUTE_RESOLVED, PAYMENT_SUBMITTED, PAYMENT_CONFIRMED, PAYMENT_FAILED})

MAX_EVENTS_PAGE = 500  # events read (ListEvents page, WatchEvents read) at most at once


def transaction_event_type(kind: str, *, lapsed: bool = False) -> str:
    """The event a ledger transaction of `kind` is: a void the network made because the hold lapsed is a lapse."""
    if lapsed and kind == "void":
        return HOLD_LAPSED
    return TRANSACTION_EVENTS[kind]
