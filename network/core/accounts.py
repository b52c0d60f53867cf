"""Member accounts, the pure rules: what an e-mail address is, how codes and session tokens are hashed, when a
one-time code may still be used, when a member or an address has asked too often, when a session has ended.

A member account is a person: an e-mail address (the login), optional phone, name, birth date and consent flags,
linked to one or more cards (members). No password is ever stored: a member logs in with a six-digit code sent by
e-mail. Every secret the network keeps about an account (activation codes, login codes, session tokens) is stored
only as a hash; the e-mail address is found by a keyed hash (HMAC) of its normalised form, so login never needs to
decrypt every account.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

LOGIN_CODE_DIGITS = 6
# Activation codes a partner prints on the receipt: groups of an alphabet without look-alikes (no 0/O, 1/I/L).
ACTIVATION_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
ACTIVATION_GROUPS, ACTIVATION_GROUP_LENGTH = 3, 4
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200
MAX_PHONE_LENGTH = 32
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_PHONE = re.compile(r"^\+?[0-9 ()-]{4,32}$")


class AccountRuleError(ValueError):
    """Bad input to an account rule; `reason` names it (e.g. EMAIL_INVALID)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Consents:
    """What the member agreed to, each revocable; nothing is assumed."""
    marketing: bool = False
    data_sharing: bool = False


@dataclass(frozen=True)
class PersonalData:
    """What is encrypted at rest with the member's own key (and unreadable once that key is deleted)."""
    email: str
    name: str
    phone: str = ""
    birth_date: date | None = None

    def as_json(self) -> dict:
        return {"email": self.email, "name": self.name, "phone": self.phone,
                "birth_date": self.birth_date.isoformat() if self.birth_date else None}

    @staticmethod
    def from_json(data: dict) -> "PersonalData":
        born = data.get("birth_date")
        return PersonalData(data["email"], data["name"], data.get("phone") or "",
                            date.fromisoformat(born) if born else None)


def normalise_email(email: str) -> str:
    """The address as looked up: trimmed and lower-cased (domains are case-insensitive, and no provider we know
    distinguishes local parts by case); refused when it is not an address."""
    candidate = (email or "").strip().lower()
    if len(candidate) > MAX_EMAIL_LENGTH or not _EMAIL.match(candidate):
        raise AccountRuleError("EMAIL_INVALID", f"{email!r} is not an e-mail address")
    return candidate


def personal_data(email: str, name: str, phone: str = "", birth_date: date | None = None,
                  today: date | None = None) -> PersonalData:
    """Checked personal data: a valid address, a name of 1..200 characters, an optional phone number, an optional
    birth date not in the future."""
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise AccountRuleError("NAME_INVALID", f"a name of 1 to {MAX_NAME_LENGTH} characters is required")
    phone = (phone or "").strip()
    if phone and not _PHONE.match(phone):
        raise AccountRuleError("PHONE_INVALID", f"{phone!r} is not a phone number")
    if birth_date is not None and today is not None and birth_date > today:
        raise AccountRuleError("BIRTH_DATE_INVALID", "the birth date is in the future")
    return PersonalData(normalise_email(email), name, phone, birth_date)


def email_lookup_hash(lookup_key: bytes, email: str) -> bytes:
    """HMAC-SHA256 of the normalised address under the network's lookup key: equal addresses, equal hashes."""
    return hmac.new(lookup_key, normalise_email(email).encode(), hashlib.sha256).digest()


def secret_hash(secret: str) -> bytes:
    """How a code or token is stored: SHA-256 of its normalised text (codes carry enough entropy, or few enough
    tries, that a slow hash buys nothing)."""
    return hashlib.sha256(secret.strip().upper().replace("-", "").replace(" ", "").encode()).digest()


def login_code_from(random_below: int) -> str:
    """A login code: `random_below` (drawn uniformly from 0..10^6-1 by the caller) as six digits."""
    if not 0 <= random_below < 10 ** LOGIN_CODE_DIGITS:
        raise ValueError("random_below out of range")
    return f"{random_below:0{LOGIN_CODE_DIGITS}d}"


def activation_code_from(indices: list[int]) -> str:
    """An activation code from 12 alphabet indices drawn by the caller: XXXX-XXXX-XXXX."""
    if len(indices) != ACTIVATION_GROUPS * ACTIVATION_GROUP_LENGTH:
        raise ValueError("need one index per character")
    chars = "".join(ACTIVATION_ALPHABET[i] for i in indices)
    return "-".join(chars[i:i + ACTIVATION_GROUP_LENGTH] for i in range(0, len(chars), ACTIVATION_GROUP_LENGTH))


@dataclass(frozen=True)
class CodeState:
    """A stored one-time code: when it stops being valid, whether it was used, how many wrong tries it took."""
    expires_at: datetime
    used: bool
    failed_attempts: int


def code_refusal(code: CodeState | None, now: datetime, max_attempts: int) -> str | None:
    """Why a one-time code cannot be tried now (None: it can): none issued, used, expired (valid strictly
    before expires_at), or max_attempts wrong tries already made."""
    if code is None:
        return "CODE_NOT_ISSUED"
    if code.used:
        return "CODE_USED"
    if now >= code.expires_at:
        return "CODE_EXPIRED"
    if code.failed_attempts >= max_attempts:
        return "CODE_ATTEMPTS_EXHAUSTED"
    return None


def within_limit(recent: int, limit: int) -> bool:
    """Another request is allowed while fewer than `limit` were made in the window (limit 0: none allowed)."""
    return recent < limit


def window_start(now: datetime, window_seconds: int) -> datetime:
    """The rate-limit window ending now: requests at or after this instant count."""
    return now - timedelta(seconds=window_seconds)


def session_active(expires_at: datetime, ended: bool, now: datetime) -> bool:
    """A session is valid strictly before its expiry and until logout."""
    return not ended and now < expires_at
