"""Consent for every spend: the pure rules (no SQL, no clock, no settings).

  PIN             4 to 8 ASCII digits, not all one digit, not a run up or down (1234, 9876, 0123...).
  verification    a spend (Redeem, AuthorizeRedemption) carries the member's PIN or a one-time redemption code;
                  without one a partner may spend at most its contract's unverified_spend_limit_points, and only
                  for a member enrolled at its own till (enrollments.method 'till').
  lock            `max_failures` wrong PINs or codes in a row lock verified spending for `lock` (all partners);
                  the counter starts again when the lock ends; a right PIN or code resets it.
  code            single use, valid until its expiry (exclusive), for spends of at most its ceiling.
  velocity        a spend is refused when the member's spends in the last hour (day) reach the hourly (daily)
                  limit, or the partner's in the last minute reach its per-minute limit (0: no limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PIN_DIGITS = (4, 8)
TILL = "till"  # enrollments.method of EnrollMember by the partner itself


def pin_problem(pin: str) -> str | None:
    """Why `pin` cannot be a spending PIN, or None."""
    low, high = PIN_DIGITS
    if not (isinstance(pin, str) and pin.isascii() and pin.isdigit() and low <= len(pin) <= high):
        return f"a PIN is {low} to {high} digits"
    if len(set(pin)) == 1:
        return "a PIN must not be one digit repeated"
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if steps in ({1}, {9}):
        return "a PIN must not be a simple sequence"
    return None


# what a spend needs, given who enrolled the member how
FREE, NEEDS_VERIFICATION = "free", "needs_verification"


def spend_needs(verified: bool, enrollment_method: str | None, points: int, unverified_limit: int) -> str:
    """FREE when the spend may go ahead as far as consent goes, else NEEDS_VERIFICATION."""
    if verified:
        return FREE
    if enrollment_method == TILL and 0 < points <= unverified_limit:
        return FREE
    return NEEDS_VERIFICATION


@dataclass(frozen=True)
class FailureOutcome:
    failed_tries: int  # the counter after this failure (0 when it locked)
    locked_until: datetime | None  # set when this failure locks


def after_failure(failed_tries: int, now: datetime, max_failures: int, lock: timedelta) -> FailureOutcome:
    """The counter after one more wrong PIN or code: the `max_failures`-th locks (and the counter starts over)."""
    tries = failed_tries + 1
    if tries >= max_failures:
        return FailureOutcome(0, now + lock)
    return FailureOutcome(tries, None)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


def code_usable(expires_at: datetime, used_at: datetime | None, max_points: int, points: int, now: datetime) -> bool:
    return used_at is None and now < expires_at and points <= max_points


def velocity_breach(count: int, limit: int) -> bool:
    """`count` spends already in the window: one more is refused when they reach `limit` (0: no limit)."""
    return limit > 0 and count >= limit
