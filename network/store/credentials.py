"""Member credentials and card safety, inside the caller's transaction: spending PINs, one-time redemption codes,
freezing and replacing cards, freezing members, and what a member's security looks like.

`session` is a SQLAlchemy Connection (or Session) in the caller's transaction; nothing here commits. The network's
spend path reads cards, freezes, PINs and codes from the database inside the spend's own transaction (no cache),
so a freeze committed on one server is seen by the next spend on every server (network.store.consent).

PINs: scrypt (hashlib) with the cost parameters of the settings (pin_scrypt_n/r/p), a 16-byte random salt per
member; the row keeps the parameters (`scrypt$n$r$p`) so old PINs verify after the settings change. Codes: 10
random digits, valid `redemption_code_seconds`, single use, bound to a points ceiling; only their SHA-256 (with
the member id) is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from sqlalchemy import text

from network import errors
from network.core.consent import pin_problem
from network.core.ledger import MAX_POINTS_PER_CALL
from network.core.members import luhn_check_digit
from network.settings import NetworkSettings, get_settings

SALT_BYTES = 16
CODE_DIGITS = 10


# A member's new card, active: its key (the card number) keeps every card, current or replaced, unique across
# members. Written with every insert of members and with a replacement card, in the same transaction (a trigger on
# members did it until migration 0023: Citus refuses triggers on a distributed table, and `members` is one there).
ADD_CARD = "INSERT INTO cards (card_number, member_id, status, created_at) VALUES (:c, :m, 'active', :t)"
ADD_CARDS_OF = ("INSERT INTO cards (card_number, member_id, status, created_at) "
                "SELECT card_number, member_id, 'active', created_at FROM members "
                "WHERE member_id = ANY(CAST(:m AS uuid[]))")


class CardStanding(NamedTuple):
    has_active_card: bool
    card_status: str | None  # of the card asked about (None: none asked, or no such card)


def card_standing(conn, member_id: uuid.UUID, card_number: str | None = None) -> CardStanding:
    """Whether the member has an active card, and the status of `card_number`: a statement on cards alone. On a
    Citus cluster cards stays on the coordinator while members is distributed, and a statement on members cannot
    read cards in a correlated subquery (network.store.citus)."""
    row = conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM cards WHERE member_id = :m AND status = 'active') AS active, "
        "(SELECT status FROM cards WHERE card_number = :c) AS card_status"), {"m": member_id, "c": card_number}).one()
    return CardStanding(bool(row.active), row.card_status)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(timezone.utc)


def _member_uuid(member_id: str | uuid.UUID) -> uuid.UUID:
    if isinstance(member_id, uuid.UUID):
        return member_id
    try:
        return uuid.UUID(member_id)
    except (ValueError, AttributeError, TypeError):
        raise errors.invalid("member_id", "must be a UUID") from None


# --- scrypt -------------------------------------------------------------------------------------------------------

class ScryptParams(NamedTuple):
    n: int
    r: int
    p: int

    @classmethod
    def of(cls, settings: NetworkSettings | None = None) -> "ScryptParams":
        settings = settings or get_settings()
        return cls(settings.pin_scrypt_n, settings.pin_scrypt_r, settings.pin_scrypt_p)

    def encode(self) -> str:
        return f"scrypt${self.n}${self.r}${self.p}"

    @classmethod
    def decode(cls, value: str) -> "ScryptParams":
        name, n, r, p = value.split("$")
        if name != "scrypt":
            raise ValueError(f"unknown PIN hash {name}")
        return cls(int(n), int(r), int(p))

    def describe(self) -> str:
        return f"scrypt N={self.n} r={self.r} p={self.p} (memory {128 * self.n * self.r // 2**20} MiB)"


def pin_hash(pin: str, salt: bytes, params: ScryptParams) -> bytes:
    return hashlib.scrypt(pin.encode("ascii"), salt=salt, n=params.n, r=params.r, p=params.p,
                          maxmem=256 * params.n * params.r * params.p + 2**20, dklen=32)


def pin_matches(pin: str, stored_hash: bytes, salt: bytes, params: str) -> bool:
    """Whether `pin` is the PIN stored (constant-time comparison); a malformed PIN never matches."""
    if not (pin.isascii() and pin.isdigit()):
        return False
    return hmac.compare_digest(pin_hash(pin, salt, ScryptParams.decode(params)), stored_hash)


def code_hash(member_id: uuid.UUID, code: str) -> bytes:
    return hashlib.sha256(member_id.bytes + code.encode("ascii")).digest()


# --- audit --------------------------------------------------------------------------------------------------------

def _record(session, actor: str, action: str, subject: str, detail: dict) -> None:
    """The operator_actions row (network.admin.record's table) of a freeze, unfreeze or replacement."""
    if not actor or not actor.strip():
        raise errors.invalid("actor", "name who acts")
    session.execute(text("INSERT INTO operator_actions (operator, action, subject, detail) "
                         "VALUES (:o, :a, :s, CAST(:d AS jsonb))"),
                    {"o": actor, "a": action, "s": subject, "d": json.dumps(detail, default=str)})


def _require_member(session, member_id: uuid.UUID, lock: bool = False) -> None:
    sql = "SELECT 1 FROM members WHERE member_id = :m" + (" FOR UPDATE" if lock else "")
    if session.execute(text(sql), {"m": member_id}).first() is None:
        raise errors.not_found("member", str(member_id), "MEMBER_NOT_FOUND")


# --- PIN and codes ------------------------------------------------------------------------------------------------

def set_pin(session, member_id: str | uuid.UUID, pin: str, *, params: ScryptParams | None = None,
            now: datetime | None = None) -> None:
    """Set or change the member's spending PIN (and clear its failed tries and lock). A PIN that is not 4 to 8
    digits, is one digit repeated or a simple sequence raises errors.InvalidPin and writes nothing."""
    problem = pin_problem(pin)
    if problem is not None:
        raise errors.InvalidPin(problem)
    member = _member_uuid(member_id)
    _require_member(session, member)
    params = params or ScryptParams.of()
    salt = secrets.token_bytes(SALT_BYTES)
    session.execute(text(
        "INSERT INTO member_credentials (member_id, pin_hash, pin_salt, pin_params, pin_set_at, failed_tries, "
        "locked_until) VALUES (:m, :h, :s, :p, :t, 0, NULL) ON CONFLICT (member_id) DO UPDATE SET "
        "pin_hash = EXCLUDED.pin_hash, pin_salt = EXCLUDED.pin_salt, pin_params = EXCLUDED.pin_params, "
        "pin_set_at = EXCLUDED.pin_set_at, failed_tries = 0, locked_until = NULL"),
        {"m": member, "h": pin_hash(pin, salt, params), "s": salt, "p": params.encode(), "t": _now(now)})


def issue_redemption_code(session, member_id: str | uuid.UUID, max_points: int, now: datetime | None = None, *,
                          valid_seconds: int | None = None) -> str:
    """A one-time code (10 digits) the member gives at a till: one spend of at most `max_points`, until
    `valid_seconds` (the redemption_code_seconds setting, 5 minutes) from now. Only its hash is stored."""
    if isinstance(max_points, bool) or not isinstance(max_points, int) or not 1 <= max_points <= MAX_POINTS_PER_CALL:
        raise errors.invalid("max_points", f"must be 1 to {MAX_POINTS_PER_CALL} points")
    member = _member_uuid(member_id)
    _require_member(session, member)
    at = _now(now)
    seconds = valid_seconds if valid_seconds is not None else get_settings().redemption_code_seconds
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    session.execute(text("INSERT INTO redemption_codes (code_hash, member_id, max_points, created_at, expires_at) "
                         "VALUES (:h, :m, :x, :t, :e)"),
                    {"h": code_hash(member, code), "m": member, "x": max_points, "t": at,
                     "e": at + timedelta(seconds=seconds)})
    return code


# --- cards and freezes --------------------------------------------------------------------------------------------

def _card(session, card_number: str, lock: bool = True):
    row = session.execute(text("SELECT card_number, member_id, status FROM cards WHERE card_number = :c"),
                          {"c": card_number}).first()
    if row is None:
        raise errors.not_found("card_number", card_number, "CARD_NOT_FOUND")
    if lock:  # the member's row lock: a freeze waits for a spend in flight, and the next spend sees it
        _require_member(session, row.member_id, lock=True)
        row = session.execute(text("SELECT card_number, member_id, status FROM cards WHERE card_number = :c"),
                              {"c": card_number}).first()
    return row


def freeze_card(session, card_number: str, actor: str, reason: str, now: datetime | None = None) -> None:
    """Freeze an active card: it no longer finds its member, and a member without an active card cannot spend.
    Freezing a frozen card changes nothing; a replaced card cannot be frozen (it is dead already)."""
    _set_card_status(session, card_number, "active", "frozen", actor, "card.freeze", reason, now)


def unfreeze_card(session, card_number: str, actor: str, reason: str = "", now: datetime | None = None) -> None:
    _set_card_status(session, card_number, "frozen", "active", actor, "card.unfreeze", reason, now)


def _set_card_status(session, card_number: str, current: str, new: str, actor: str, action: str, reason: str,
                     now: datetime | None) -> None:
    """A card in status `current` goes to `new` (in another status but replaced: unchanged), recorded as `action`;
    a replaced card is refused."""
    row = _card(session, card_number)
    if row.status == "replaced":
        raise errors.precondition("CARD_REPLACED", f"card {card_number} was replaced", card_number=card_number)
    if row.status == current:
        session.execute(text("UPDATE cards SET status = :s, status_changed_at = :t WHERE card_number = :c"),
                        {"c": card_number, "s": new, "t": _now(now)})
    _record(session, actor, action, card_number, {"member_id": str(row.member_id), "reason": reason})


def new_card_number() -> str:
    """A new member card number: 16 digits, "7" then 14 random digits then the Luhn check digit. Unique only by
    chance: `_new_card_number` also rules out the numbers `cards` has seen; enrolment relies on `cards`' key."""
    body = "7" + "".join(secrets.choice("0123456789") for _ in range(14))
    return body + luhn_check_digit(body)


def _new_card_number(session) -> str:
    """A card number no card has had (`cards` keeps every card ever issued)."""
    while True:
        card = new_card_number()
        if session.execute(text("SELECT 1 FROM cards WHERE card_number = :c"), {"c": card}).first() is None:
            return card


def replace_card(session, member_id: str | uuid.UUID, old_card_number: str, actor: str,
                 now: datetime | None = None) -> str:
    """Replace a lost card: the old one is 'replaced' (it stops working at once), a new card number (Luhn) becomes
    the member's current card (members.card_number). The points stay with the member: they were never the card's."""
    member = _member_uuid(member_id)
    row = _card(session, old_card_number)
    if row.member_id != member:
        raise errors.not_found("card_number", old_card_number, "CARD_NOT_FOUND")
    if row.status == "replaced":
        raise errors.precondition("CARD_REPLACED", f"card {old_card_number} was replaced", card_number=old_card_number)
    at = _now(now)
    card = _new_card_number(session)
    session.execute(text("UPDATE cards SET status = 'replaced', status_changed_at = :t WHERE card_number = :c"),
                    {"c": old_card_number, "t": at})
    session.execute(text(ADD_CARD), {"c": card, "m": member, "t": at})
    session.execute(text("UPDATE members SET card_number = :c WHERE member_id = :m AND card_number = :old"),
                    {"c": card, "m": member, "old": old_card_number})
    _record(session, actor, "card.replace", old_card_number, {"member_id": str(member), "new_card_number": card})
    return card


def freeze_member(session, member_id: str | uuid.UUID, actor: str, reason: str, now: datetime | None = None) -> None:
    """No spend for this member, by any partner, until unfrozen (earning goes on)."""
    member = _member_uuid(member_id)
    _require_member(session, member, lock=True)
    session.execute(text("UPDATE members SET frozen_at = coalesce(frozen_at, :t), frozen_reason = :r "
                         "WHERE member_id = :m"), {"m": member, "t": _now(now), "r": reason[:200] or None})
    _record(session, actor, "member.freeze", str(member), {"reason": reason})


def unfreeze_member(session, member_id: str | uuid.UUID, actor: str, reason: str = "",
                    now: datetime | None = None) -> None:
    member = _member_uuid(member_id)
    _require_member(session, member, lock=True)
    session.execute(text("UPDATE members SET frozen_at = NULL, frozen_reason = NULL WHERE member_id = :m"),
                    {"m": member})
    _record(session, actor, "member.unfreeze", str(member), {"reason": reason})


# --- what a member's security looks like --------------------------------------------------------------------------

class CardState(NamedTuple):
    card_number: str
    status: str  # active, frozen, replaced
    created_at: datetime
    status_changed_at: datetime | None


class MemberSecurity(NamedTuple):
    member_id: str
    pin_set: bool
    locked_until: datetime | None  # None: not locked now
    failed_tries: int
    frozen: bool
    frozen_reason: str | None
    cards: tuple[CardState, ...]


def member_security(session, member_id: str | uuid.UUID, now: datetime | None = None) -> MemberSecurity:
    member = _member_uuid(member_id)
    row = session.execute(text(
        "SELECT m.frozen_at, m.frozen_reason, c.pin_hash IS NOT NULL AS pin_set, c.failed_tries, c.locked_until "
        "FROM members m LEFT JOIN member_credentials c USING (member_id) WHERE m.member_id = :m"), {"m": member}).first()
    if row is None:
        raise errors.not_found("member", str(member), "MEMBER_NOT_FOUND")
    at = _now(now)
    cards = tuple(CardState(r.card_number, r.status, r.created_at, r.status_changed_at) for r in session.execute(text(
        "SELECT card_number, status, created_at, status_changed_at FROM cards WHERE member_id = :m "
        "ORDER BY created_at, card_number"), {"m": member}))
    locked = row.locked_until if row.locked_until is not None and at < row.locked_until else None
    return MemberSecurity(str(member), bool(row.pin_set), locked, row.failed_tries or 0, row.frozen_at is not None,
                          row.frozen_reason, cards)
