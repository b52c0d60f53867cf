"""Ledger arithmetic as plain functions over plain data: lots, consumption, postings, the hash chain.

Accounts (every posting names one, with the lot it concerns, so derived state can be rebuilt):
  member   (owner = member id)  points a member can spend or that are pending in a lot
  hold     (owner = member id)  points reserved by open holds
  issuer   (owner = partner id) the issuer's side of every point it issued (negative while outstanding)
  redeemer (owner = partner id) points spent at that partner (its claim, cleared in settlement)
  breakage (owner = partner id) points of that issuer that expired
  transfer (owner = issuer id)  points of that issuer on their way from one member to another: a transfer's
                                sending transaction puts them in, its receiving transaction takes them out (per
                                lot: zero once both are written, in one database transaction)

Per lot:  remaining = sum of its member postings,  held = sum of its hold postings.
A partner's liability (points) = sum over its lots of remaining + held.

Rounding rules (the only places money is rounded):
  earn points from a purchase: floor(amount_minor x earn_points_per_major / 10^exponent)  (member gets whole points)
  money value of points:      round half-even to the minor unit, once per line.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Iterable, Sequence

MAX_POINTS_PER_CALL = 1_000_000_000
MAX_AMOUNT_MINOR = 10**12

MEMBER, HOLD, ISSUER, REDEEMER, BREAKAGE = "member", "hold", "issuer", "redeemer", "breakage"
TRANSFER = "transfer"
ACCOUNTS = (MEMBER, HOLD, ISSUER, REDEEMER, BREAKAGE, TRANSFER)
# The journal partner of a transaction between members (a transfer's two rows): no partner's. Such rows are no
# partner's event and no partner's transaction (network.core.events.MEMBER_ONLY_KINDS).
NO_PARTNER = ""

# ISO 4217 minor-unit exponents of the currencies the network accepts.
CURRENCY_EXPONENT = {"EUR": 2, "GBP": 2, "USD": 2, "CHF": 2, "SEK": 2, "DKK": 2, "NOK": 2, "PLN": 2, "CZK": 2}


@dataclass(frozen=True)
class Posting:
    account: str
    owner: str
    lot_id: str
    points: int


@dataclass(frozen=True)
class LotBalance:
    """A lot as consumption sees it: spendable points and the order key."""

    lot_id: str
    issuer_id: str
    spendable: int
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class Allocation:
    lot_id: str
    issuer_id: str
    points: int


class NotEnoughPoints(Exception):
    def __init__(self, requested: int, available: int):
        super().__init__(f"{requested} requested, {available} available")
        self.requested = requested
        self.available = available


def earn_points_for_purchase(amount_minor: int, currency: str, earn_points_per_major: Decimal) -> int:
    exponent = CURRENCY_EXPONENT[currency]
    points = (Decimal(amount_minor) * earn_points_per_major / (Decimal(10) ** exponent)).to_integral_value(ROUND_FLOOR)
    return int(points)


def money_for_points(points: int, rate_minor_per_point: Decimal) -> int:
    return int((Decimal(points) * rate_minor_per_point).to_integral_value(ROUND_HALF_EVEN))


def consumption_order(lot: LotBalance) -> tuple:
    """Earliest expiry first (lots that never expire last), then oldest first."""
    return (lot.expires_at is None, lot.expires_at or lot.created_at, lot.created_at, lot.lot_id)


def allocate(lots: Iterable[LotBalance], points: int) -> list[Allocation]:
    """Take `points` from spendable lots, earliest expiry first. Raises NotEnoughPoints."""
    ordered = sorted((lot for lot in lots if lot.spendable > 0), key=consumption_order)
    available = sum(lot.spendable for lot in ordered)
    if points > available:
        raise NotEnoughPoints(points, available)
    allocations: list[Allocation] = []
    left = points
    for lot in ordered:
        if left == 0:
            break
        take = min(left, lot.spendable)
        allocations.append(Allocation(lot.lot_id, lot.issuer_id, take))
        left -= take
    return allocations


def split_proportionally(parts: Sequence[Allocation], total: int) -> list[Allocation]:
    """Split `total` over `parts` in proportion to their points (largest remainder, ties to earlier parts).

    Each share is at most its part; shares sum to exactly `total` (0 <= total <= sum of parts).
    """
    whole = sum(p.points for p in parts)
    if not 0 <= total <= whole:
        raise ValueError(f"cannot split {total} over {whole}")
    if whole == 0:
        return []
    floors = [p.points * total // whole for p in parts]
    remainders = [(p.points * total % whole, -i) for i, p in enumerate(parts)]
    short = total - sum(floors)
    for _, neg_index in sorted(remainders, reverse=True)[:short]:
        floors[-neg_index] += 1
    return [Allocation(p.lot_id, p.issuer_id, share) for p, share in zip(parts, floors) if share > 0]


def take_in_order(parts: Sequence[Allocation], total: int) -> tuple[list[Allocation], list[Allocation]]:
    """Split `parts` into the first `total` points (in order) and the rest."""
    taken, rest = [], []
    left = total
    for part in parts:
        use = min(left, part.points)
        if use:
            taken.append(Allocation(part.lot_id, part.issuer_id, use))
        if part.points - use:
            rest.append(Allocation(part.lot_id, part.issuer_id, part.points - use))
        left -= use
    return taken, rest


# --- postings per transaction kind (each list sums to zero) --------------------------------------------

def earn_postings(member_id: str, issuer_id: str, lot_id: str, points: int) -> list[Posting]:
    return [Posting(ISSUER, issuer_id, lot_id, -points), Posting(MEMBER, member_id, lot_id, points)]


def spend_postings(member_id: str, redeemer_id: str, allocations: Iterable[Allocation]) -> list[Posting]:
    out: list[Posting] = []
    for a in allocations:
        out += [Posting(MEMBER, member_id, a.lot_id, -a.points), Posting(REDEEMER, redeemer_id, a.lot_id, a.points)]
    return out


def hold_postings(member_id: str, allocations: Iterable[Allocation]) -> list[Posting]:
    out: list[Posting] = []
    for a in allocations:
        out += [Posting(MEMBER, member_id, a.lot_id, -a.points), Posting(HOLD, member_id, a.lot_id, a.points)]
    return out


def capture_postings(member_id: str, redeemer_id: str, captured: Iterable[Allocation],
                     released: Iterable[Allocation]) -> list[Posting]:
    out: list[Posting] = []
    for a in captured:
        out += [Posting(HOLD, member_id, a.lot_id, -a.points), Posting(REDEEMER, redeemer_id, a.lot_id, a.points)]
    out += release_postings(member_id, released)
    return out


def release_postings(member_id: str, released: Iterable[Allocation]) -> list[Posting]:
    out: list[Posting] = []
    for a in released:
        out += [Posting(HOLD, member_id, a.lot_id, -a.points), Posting(MEMBER, member_id, a.lot_id, a.points)]
    return out


def reverse_earn_postings(member_id: str, issuer_id: str, lot_id: str, points: int) -> list[Posting]:
    return [Posting(MEMBER, member_id, lot_id, -points), Posting(ISSUER, issuer_id, lot_id, points)]


def reverse_redemption_postings(member_id: str, redeemer_id: str, shares: Iterable[Allocation]) -> list[Posting]:
    out: list[Posting] = []
    for a in shares:
        out += [Posting(REDEEMER, redeemer_id, a.lot_id, -a.points), Posting(MEMBER, member_id, a.lot_id, a.points)]
    return out


def expire_postings(member_id: str, issuer_id: str, lot_id: str, points: int) -> list[Posting]:
    return [Posting(MEMBER, member_id, lot_id, -points), Posting(BREAKAGE, issuer_id, lot_id, points)]


def transfer_out_postings(member_id: str, taken: Iterable[Allocation]) -> list[Posting]:
    """A transfer's sending side (the sender's shard): each source lot gives its points to the transfer account of
    its issuer."""
    out: list[Posting] = []
    for a in taken:
        out += [Posting(MEMBER, member_id, a.lot_id, -a.points), Posting(TRANSFER, a.issuer_id, a.lot_id, a.points)]
    return out


def transfer_in_postings(member_id: str, taken: Sequence[Allocation], new_lot_ids: Sequence[str]) -> list[Posting]:
    """A transfer's receiving side (the recipient's shard): for each source lot (line 2k) the transfer account gives
    its points back, into the recipient's new lot (line 2k+1), which keeps the source lot's issuer."""
    if len(taken) != len(new_lot_ids):
        raise ValueError("one new lot per source lot")
    out: list[Posting] = []
    for a, new_lot_id in zip(taken, new_lot_ids):
        out += [Posting(TRANSFER, a.issuer_id, a.lot_id, -a.points), Posting(MEMBER, member_id, new_lot_id, a.points)]
    return out


def lot_deltas(postings: Iterable[Posting]) -> dict[str, tuple[int, int]]:
    """Per lot: (change of remaining, change of held) implied by postings."""
    deltas: dict[str, tuple[int, int]] = {}
    for p in postings:
        remaining, held = deltas.get(p.lot_id, (0, 0))
        if p.account == MEMBER:
            remaining += p.points
        elif p.account == HOLD:
            held += p.points
        else:
            continue
        deltas[p.lot_id] = (remaining, held)
    return deltas


# --- tamper evidence ------------------------------------------------------------------------------------

GENESIS_HASH = bytes(32)

# What a journal row's hash covers, by the row's hash_version (a column of the row, itself under the hash):
#   1  the rows written before every column came under the hash: the transaction's ids, kind, parties, points,
#      money, related id, request id and time, and its postings (account, owner, lot, points). Such rows keep
#      version 1 and verify under it: re-chaining history would rewrite the very hashes that prove it untouched.
#   2  every column of the row (version 1's plus receipt_ref, store_id, terminal_id and the version itself, NULL
#      told apart from ""), every column of its postings (line numbers included), and the immutable columns of
#      the rows the transaction created: its lot (an earn: lot id, member, issuer, points, available_at,
#      expires_at, created_at) and its hold (a hold: hold id, member, partner, points, expires_at, created_at).
# Everything else in the history tables is derived state that `coalition ledger verify` rebuilds from these.
HASH_VERSION = 2
HASH_VERSIONS = (1, 2)


@dataclass(frozen=True)
class JournalEntry:
    """The fields of a journal row that its hash covers (receipt_ref, store_id, terminal_id: version 2 on)."""

    tx_id: str
    shard: int
    seq: int
    kind: str
    partner_id: str
    member_id: str
    points: int
    amount_minor: int | None
    currency: str | None
    related_id: str | None
    request_id: str | None
    created_at: datetime
    receipt_ref: str | None = None
    store_id: str | None = None
    terminal_id: str | None = None
    hash_version: int = 1


@dataclass(frozen=True)
class NumberedPosting:
    """A posting with its line number in its transaction (hash version 2 covers the line too)."""

    line: int
    posting: Posting


@dataclass(frozen=True)
class LotTerms:
    """A lot's columns fixed when its earn created it (hashed with the earn from version 2)."""

    lot_id: str
    member_id: str
    issuer_id: str
    points: int
    available_at: datetime
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class HoldTerms:
    """A hold's columns fixed when it was placed (hashed with its hold transaction from version 2)."""

    hold_id: str
    member_id: str
    partner_id: str
    points: int
    expires_at: datetime
    created_at: datetime


_UTC_OFFSET = timedelta(0)


@functools.lru_cache(maxsize=1024)  # a group's rows share a few instants (now, a lot's availability and expiry)
def _instant(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (an aware datetime of any zone gives the same text for the same instant)."""
    if value is None:
        return None
    return (value if value.utcoffset() == _UTC_OFFSET else value.astimezone(timezone.utc)).isoformat()


def _digest_v1(entry: JournalEntry, postings: Iterable[Posting]) -> bytes:
    head = "|".join(str(v) if v is not None else "" for v in (
        entry.tx_id, entry.shard, entry.seq, entry.kind, entry.partner_id, entry.member_id, entry.points,
        entry.amount_minor, entry.currency, entry.related_id, entry.request_id, entry.created_at.isoformat()))
    lines = sorted(f"{p.account}:{p.owner}:{p.lot_id}:{p.points}" for p in postings)
    return hashlib.sha256("\n".join([head, *lines]).encode("utf-8")).digest()


# json.dumps(document, separators=(",", ":"), ensure_ascii=False), without building an encoder per row
_CANONICAL_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _digest_v2(entry: JournalEntry, postings: list[list], lots: Iterable[LotTerms],
               holds: Iterable[HoldTerms]) -> bytes:
    """postings: [line, account, owner, lot id, points] each."""
    document = [
        entry.hash_version,
        [entry.tx_id, entry.shard, entry.seq, entry.kind, entry.partner_id, entry.member_id, entry.points,
         entry.amount_minor, entry.currency, entry.receipt_ref, entry.store_id, entry.terminal_id, entry.request_id,
         entry.related_id, _instant(entry.created_at)],
        sorted(postings),
        sorted([t.lot_id, t.member_id, t.issuer_id, t.points, _instant(t.available_at), _instant(t.expires_at),
                _instant(t.created_at)] for t in lots),
        sorted([t.hold_id, t.member_id, t.partner_id, t.points, _instant(t.expires_at), _instant(t.created_at)]
               for t in holds),
    ]
    return hashlib.sha256(_CANONICAL_JSON.encode(document).encode("utf-8")).digest()


def entry_digest(entry: JournalEntry, postings: Iterable[Posting] | Iterable[NumberedPosting],
                 lots: Iterable[LotTerms] = (), holds: Iterable[HoldTerms] = ()) -> bytes:
    """SHA-256 over a canonical text of the entry and what its hash version covers (order-independent).

    Version 1 takes plain postings and ignores lots and holds; version 2 takes numbered postings."""
    if entry.hash_version == 1:
        return _digest_v1(entry, [p.posting if isinstance(p, NumberedPosting) else p for p in postings])
    if entry.hash_version == 2:
        lines = [[p.line, p.posting.account, p.posting.owner, p.posting.lot_id, p.posting.points]
                 if isinstance(p, NumberedPosting) else [i, p.account, p.owner, p.lot_id, p.points]
                 for i, p in enumerate(postings)]
        return _digest_v2(entry, lines, lots, holds)
    raise ValueError(f"unknown hash version {entry.hash_version}")


def chain_hash(prev_hash: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(prev_hash + digest).digest()
