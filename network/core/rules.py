"""The rules that decide a ledger outcome, as pure functions of contract terms, lots, balances and `now`.

Each function returns a value or a Refusal (never raises for a business refusal, never reads a clock or a
database); the store calls them inside its transaction and turns a Refusal into the wire's error
(network.errors.from_refusal).

  earn            points = floor(amount_minor x earn_points_per_major / 10^exponent), or the points given;
                  1..MAX_POINTS_PER_CALL whatever their source; a purchase in the contract's currency only;
                  the lot is pending for the contract's return window, then active; it expires under the
                  contract's expiry policy (network.core.expiry: fixed days or months after the earn, the end of
                  the earn's calendar year plus months, or months after the member's last activity).
  credit limit    exposure = money_for_points(outstanding + points) - collateral; refused when exposure > limit
                  (a contract without a limit has none).
  basket cap      money_for_points(points) <= basket_minor x max_basket_share_bps / BASIS_POINTS, floored;
                  a contract with a cap below 100% needs the basket amount.
  spendable       a lot's remaining points are spendable when it is active (or pending past its available_at)
                  and not past its expiry: pending and expired-but-not-yet-swept lots are never spendable.
  holds           a hold lives ttl_seconds (DEFAULT_HOLD_TTL when 0) and lapses at expires_at; a capture takes
                  at most the hold's points, in allocation order, and releases the rest.
  reversals       an earn's reversal takes back at most its reversible points, and only points still unspent;
                  a redemption's reversal splits over the lots it consumed in proportion (largest remainder).
  expiry          a lot past its expiry with no open hold on it expires: its remaining points move to the
                  issuer's breakage account (network.core.ledger.expire_postings); the sweep selecting such lots
                  is set-based SQL (network.store.ledger.Ledger.expire_lots: expiry <= now, as is_expired). Its
                  expiry is its expires_at, or for a lot earned under an inactivity policy months after the
                  member's last activity (network.core.expiry.effective_expiry; SQL: network.store.expiry).
  idempotency     a stored answer for the same method and body hash is replayed; any other use of the key is
                  refused; no stored answer: a new request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterable, Sequence

from network.core import expiry
from network.core.ledger import (CURRENCY_EXPONENT, MAX_POINTS_PER_CALL, Allocation, LotBalance,
                                 earn_points_for_purchase, money_for_points, split_proportionally, take_in_order)
from network.core.terms import BASIS_POINTS, ContractTerms

DEFAULT_HOLD_TTL = 900  # seconds, when the request gives none
MIN_HOLD_TTL, MAX_HOLD_TTL = 60, 7 * 86400  # seconds, the range a request may ask for
EXPIRING_WINDOW = timedelta(days=30)  # "expiring soon" in a balance


# --- refusals ------------------------------------------------------------------------------------------------

INVALID, PRECONDITION = "invalid", "precondition"


@dataclass(frozen=True)
class Refusal:
    """Why a rule refuses: `kind` INVALID (bad input, naming `field`) or PRECONDITION (the state forbids it)."""

    kind: str
    reason: str
    message: str
    field: str = ""
    metadata: tuple[tuple[str, str], ...] = ()


def _invalid(field_name: str, description: str) -> Refusal:
    return Refusal(INVALID, "INVALID_ARGUMENT", description, field_name)


def _precondition(reason: str, message: str, **metadata: str) -> Refusal:
    return Refusal(PRECONDITION, reason, message, metadata=tuple(metadata.items()))


# --- earn ----------------------------------------------------------------------------------------------------

def currency_refusal(terms: ContractTerms, currency: str, field_name: str) -> Refusal | None:
    """A purchase or basket is in the contract's currency (the partner's): until the network converts currencies,
    another one is refused. The amount is well formed; the partner's contract is what rules it out, hence a
    precondition (FAILED_PRECONDITION), not an invalid argument."""
    if currency not in CURRENCY_EXPONENT:
        return _invalid(field_name, f"{currency} is not a currency the network accepts")
    if currency == terms.currency:
        return None
    return _precondition("CURRENCY_NOT_ACCEPTED", f"{field_name} is in {currency}; partner {terms.partner_id}'s "
                         f"contract is in {terms.currency}", partner_id=terms.partner_id, currency=currency,
                         contract_currency=terms.currency)


def points_for_earn(terms: ContractTerms, amount_minor: int | None, currency: str | None,
                    points: int | None) -> int | Refusal:
    """The points an earn awards: the points given, or those the contract awards for the purchase in the
    contract's currency; 1..MAX_POINTS_PER_CALL whatever their source."""
    if points is None:
        assert amount_minor is not None and currency is not None
        refusal = currency_refusal(terms, currency, "purchase.currency")
        if refusal is not None:
            return refusal
        points = earn_points_for_purchase(amount_minor, currency, terms.earn_points_per_major)
        field_name = "purchase.amount_minor"
    else:
        field_name = "points"
    if points <= 0:
        return _invalid(field_name, "the purchase earns no points under the contract" if field_name != "points"
                        else f"must be between 1 and {MAX_POINTS_PER_CALL}")
    if points > MAX_POINTS_PER_CALL:
        return _invalid(field_name, f"earns {points} points, more than {MAX_POINTS_PER_CALL} per call")
    return points


@dataclass(frozen=True)
class NewLot:
    """The state and dates of the lot an earn at `now` creates under a contract."""

    state: str
    available_at: datetime
    expires_at: datetime | None


def new_lot(terms: ContractTerms, now: datetime) -> NewLot:
    available_at = now + timedelta(seconds=terms.return_window_seconds)
    expires_at = expiry.lot_expires_at(terms.expiry, now)
    return NewLot("pending" if terms.return_window_seconds > 0 else "active", available_at, expires_at)


def exposure_minor(outstanding_points: int, point_value_minor: Decimal, collateral_minor: int) -> int:
    """A partner's exposure: the money value of its outstanding points less its collateral."""
    return money_for_points(outstanding_points, point_value_minor) - collateral_minor


def credit_limit_refusal(terms: ContractTerms, outstanding_after: int, point_value_minor: Decimal) -> Refusal | None:
    """Refuse an earn that would leave the issuer with `outstanding_after` points past its credit limit."""
    if terms.credit_limit_minor is None:
        return None
    exposure = exposure_minor(outstanding_after, point_value_minor, terms.collateral_minor)
    if exposure <= terms.credit_limit_minor:
        return None
    return _precondition("CREDIT_LIMIT_EXCEEDED", f"partner {terms.partner_id} exposure would reach {exposure} minor "
                         f"units, limit {terms.credit_limit_minor}", partner_id=terms.partner_id)


@dataclass(frozen=True)
class EarnRequest:
    """One earn to decide: the issuer's terms and the points it would award."""

    terms: ContractTerms
    points: int


def apply_credit_limits(earns: Sequence[EarnRequest], outstanding_points: dict[str, int],
                        point_value_minor: Decimal) -> list[Refusal | None]:
    """Decide a group of earns in order against their issuers' credit limits: each accepted earn adds to its
    issuer's outstanding points for the earns after it. `outstanding_points`: by partner, for every partner
    with a limit among `earns`."""
    outstanding = dict(outstanding_points)
    decisions: list[Refusal | None] = []
    for earn in earns:
        partner_id = earn.terms.partner_id
        if earn.terms.credit_limit_minor is None:
            decisions.append(None)
            continue
        after = outstanding[partner_id] + earn.points
        refusal = credit_limit_refusal(earn.terms, after, point_value_minor)
        if refusal is None:
            outstanding[partner_id] = after
        decisions.append(refusal)
    return decisions


# --- spending ------------------------------------------------------------------------------------------------

def basket_cap_refusal(terms: ContractTerms, points: int, basket_minor: int | None,
                       point_value_minor: Decimal) -> Refusal | None:
    """Refuse paying more of a basket with points than the contract's max_basket_share_bps allows."""
    if terms.max_basket_share_bps >= BASIS_POINTS:
        return None
    if basket_minor is None:
        return _invalid("basket", "this partner's contract caps the basket share payable with points: "
                        "send the basket amount")
    value = money_for_points(points, point_value_minor)
    cap = basket_minor * terms.max_basket_share_bps // BASIS_POINTS
    if value > cap:
        return _precondition("BASKET_CAP_EXCEEDED", f"points worth {value} minor units exceed the cap of {cap} "
                             f"({terms.max_basket_share_bps / 100:.2f}% of the basket)")
    return None


@dataclass(frozen=True)
class Lot:
    """A member's lot as spending sees it."""

    lot_id: str
    issuer_id: str
    state: str
    remaining: int
    available_at: datetime
    expires_at: datetime | None
    created_at: datetime


def is_active(lot: Lot, now: datetime) -> bool:
    """Active, or pending past its return window (due for activation)."""
    return lot.state == "active" or (lot.state == "pending" and lot.available_at <= now)


def is_expired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at <= now


def is_spendable(lot: Lot, now: datetime) -> bool:
    """Pending lots (inside the return window) and expired lots not yet swept are never spendable."""
    return lot.remaining > 0 and is_active(lot, now) and not is_expired(lot.expires_at, now)


def spendable_lots(lots: Iterable[Lot], now: datetime) -> list[LotBalance]:
    return [LotBalance(lot.lot_id, lot.issuer_id, lot.remaining, lot.expires_at, lot.created_at)
            for lot in lots if is_spendable(lot, now)]


# --- holds ---------------------------------------------------------------------------------------------------

def hold_expires_at(now: datetime, ttl_seconds: int) -> datetime:
    return now + timedelta(seconds=ttl_seconds or DEFAULT_HOLD_TTL)


def hold_lapsed(expires_at: datetime, now: datetime) -> bool:
    """An uncaptured hold lapses at its expiry: from then on it can only be released."""
    return expires_at <= now


@dataclass(frozen=True)
class Capture:
    """A capture of `points` of a hold: the allocations it spends and those it gives back."""

    points: int
    released_points: int
    captured: list[Allocation] = field(default_factory=list)
    released: list[Allocation] = field(default_factory=list)


def plan_capture(hold_id: str, hold_points: int, expires_at: datetime, allocations: Sequence[Allocation],
                 requested: int, now: datetime) -> Capture | Refusal:
    """Capture `requested` points (0: all) of an open hold; the rest is released."""
    if hold_lapsed(expires_at, now):
        return _precondition("HOLD_EXPIRED", f"hold {hold_id} expired at {expires_at.isoformat()}", hold_id=hold_id)
    points = requested or hold_points
    if points > hold_points:
        return _precondition("CAPTURE_EXCEEDS_HOLD", f"capture of {points} exceeds the hold of {hold_points}",
                             hold_id=hold_id)
    captured, released = take_in_order(allocations, points)
    return Capture(points, hold_points - points, captured, released)


# --- reversals -----------------------------------------------------------------------------------------------

REVERSIBLE_KINDS = ("earn", "redeem", "capture")


def not_reversible(kind: str, transaction_id: str) -> Refusal | None:
    if kind in REVERSIBLE_KINDS:
        return None
    return _precondition("NOT_REVERSIBLE", f"a {kind} transaction cannot be reversed", transaction_id=transaction_id)


@dataclass(frozen=True)
class EarnReversal:
    points: int
    left: int  # the earn's reversible points left after this reversal (0: the lot is fully reversed)
    # what the partner can still reverse right after this (the wire's remaining_reversible_points):
    # min(reversible, unspent) - points. Spent points come back only when that redemption is reversed.
    reversible_now: int


def plan_earn_reversal(transaction_id: str, reversible: int, unspent: int, requested: int) -> EarnReversal | Refusal:
    """Take back `requested` points (0: all that are reversible) of an earn: at most its reversible points,
    and only points of its lot that are still unspent. Nothing left to reverse is refused, as for a redemption
    (a reversal of 0 points is never written)."""
    points = requested or reversible
    if points > reversible or reversible == 0:
        return _precondition("EXCEEDS_REVERSIBLE", f"{points} points requested, {reversible} reversible",
                             transaction_id=transaction_id)
    if points > unspent:
        return _precondition("POINTS_ALREADY_SPENT",
                             f"{unspent} of this earn's points are still unspent, {points} requested",
                             transaction_id=transaction_id)
    return EarnReversal(points, reversible - points, min(reversible, unspent) - points)


@dataclass(frozen=True)
class RedemptionReversal:
    points: int
    left: int
    shares: list[Allocation]  # per consumed lot, the points given back to it


def plan_redemption_reversal(transaction_id: str, consumed: Sequence[Allocation],
                             requested: int) -> RedemptionReversal | Refusal:
    """Give back `requested` points (0: all not yet given back) of a redemption, split over the lots it consumed
    in proportion to what each still holds of it."""
    reversible = sum(a.points for a in consumed)
    points = requested or reversible
    if points > reversible or reversible == 0:
        return _precondition("EXCEEDS_REVERSIBLE", f"{points} points requested, {reversible} reversible",
                             transaction_id=transaction_id)
    return RedemptionReversal(points, reversible - points, split_proportionally(consumed, points))


# --- idempotency ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredAnswer:
    """An idempotency key as kept: the call it was claimed for and its response (None until stored)."""

    method: str
    body_hash: bytes
    response: bytes | None


@dataclass(frozen=True)
class Replay:
    response: bytes


@dataclass(frozen=True)
class KeyReused:
    request_id: str


@dataclass(frozen=True)
class NewRequest:
    pass


IdempotencyDecision = Replay | KeyReused | NewRequest


def idempotency_decision(request_id: str, method: str, body_hash: bytes,
                         stored: StoredAnswer | None) -> IdempotencyDecision:
    """Same key, same method and body, answered: replay. Same key otherwise: refused. Unknown key: new."""
    if stored is None:
        return NewRequest()
    if stored.method != method or stored.body_hash != body_hash or stored.response is None:
        return KeyReused(request_id)
    return Replay(stored.response)
