"""Expiry policies: when an issuer's points expire, as pure date rules (UTC; no clock, no SQL).

An issuer's contract names one policy (ContractTerms.expiry_policy) and its lengths:

  fixed       the lot expires expiry_days days after the earn, or expiry_months calendar months after it (a day
              that the target month lacks becomes its last day: 31 January + 1 month = 28 or 29 February, at the
              same time of day); both 0: never. Today's behaviour; the lot's expires_at is fixed at the earn.
  calendar    the lot expires at the end of the calendar year of the earn plus expiry_months months: points earned
              any day of 2026 with expiry_months 3 are spendable to the end of 31 March 2027 (they expire at
              2027-04-01T00:00Z). Fixed at the earn too.
  inactivity  the member's points of this issuer expire expiry_months months after the member's last earn or spend
              anywhere in the network (network.store.lots: member_activity). The lot has no expires_at of its own:
              its expiry is computed from the member's last activity whenever it is needed (spending, balances,
              the expiry run, warnings), so a member's activity at any partner extends every such lot without
              rewriting it.

A lot is expired at an instant t when its expiry <= t (network.core.rules.is_expired); the expiry run moves its
remaining points to the issuer's breakage.

The month arithmetic is PostgreSQL's (timestamp + interval 'N months' clamps the day to the month's end), so the SQL
form in network.store.lots (INACTIVITY_EXPIRY) and add_months agree on every date; tests check both.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

FIXED, CALENDAR, INACTIVITY = "fixed", "calendar", "inactivity"
EXPIRY_POLICIES = (FIXED, CALENDAR, INACTIVITY)
MAX_EXPIRY_DAYS = 3650
MAX_EXPIRY_MONTHS = 120


def add_months(at: datetime, months: int) -> datetime:
    """`at` plus `months` calendar months, in UTC, the day clamped to the target month's last day."""
    utc = at.astimezone(timezone.utc)
    index = utc.year * 12 + (utc.month - 1) + months
    year, month = divmod(index, 12)
    day = min(utc.day, days_in_month(year, month + 1))
    return utc.replace(year=year, month=month + 1, day=day)


def days_in_month(year: int, month: int) -> int:
    """28 to 31 (Gregorian leap years: every 4th, not every 100th, every 400th)."""
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def end_of_year(at: datetime) -> datetime:
    """The end of the calendar year (UTC) of `at`: the first instant of the next year."""
    return datetime(at.astimezone(timezone.utc).year + 1, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ExpiryPolicy:
    """A contract's expiry terms: the policy and its lengths (see the module's docstring)."""

    policy: str = FIXED
    days: int = 0
    months: int = 0


def policy_problem(policy: ExpiryPolicy) -> tuple[str, str] | None:
    """What is wrong with a contract's expiry terms, as (field, description); None when they are valid."""
    if policy.policy not in EXPIRY_POLICIES:
        return "expiry_policy", f"must be one of {', '.join(EXPIRY_POLICIES)}"
    if not 0 <= policy.days <= MAX_EXPIRY_DAYS:
        return "expiry_days", f"must be between 0 (never) and {MAX_EXPIRY_DAYS}"
    if not 0 <= policy.months <= MAX_EXPIRY_MONTHS:
        return "expiry_months", f"must be between 0 and {MAX_EXPIRY_MONTHS}"
    if policy.policy == FIXED and policy.days and policy.months:
        return "expiry_months", "a fixed expiry is in days or in months, not both"
    if policy.policy != FIXED and policy.days:
        return "expiry_days", f"a {policy.policy} expiry is in months (expiry_months); expiry_days must be 0"
    if policy.policy == INACTIVITY and policy.months == 0:
        return "expiry_months", "an inactivity expiry needs at least 1 month"
    return None


def lot_expires_at(policy: ExpiryPolicy, earned_at: datetime) -> datetime | None:
    """The expiry a lot earned at `earned_at` gets at the earn: None for never, and for inactivity (computed from
    the member's last activity instead: inactivity_expires_at)."""
    if policy.policy == FIXED:
        if policy.days:
            return earned_at + timedelta(days=policy.days)
        return add_months(earned_at, policy.months) if policy.months else None
    if policy.policy == CALENDAR:
        return add_months(end_of_year(earned_at), policy.months)
    return None


def inactivity_expires_at(last_activity_at: datetime, months: int) -> datetime:
    """When an inactivity lot expires: `months` months after the member's last earn or spend in the network."""
    return add_months(last_activity_at, months)


def effective_expiry(fixed_expires_at: datetime | None, policy: str | None, months: int,
                     last_activity_at: datetime | None, earned_at: datetime) -> datetime | None:
    """A lot's expiry now: its own expires_at when it has one; for a lot earned under an inactivity policy, months
    after the member's last activity (never earlier than its own earn, should no activity be on record)."""
    if fixed_expires_at is not None or policy != INACTIVITY:
        return fixed_expires_at
    last = earned_at if last_activity_at is None or last_activity_at < earned_at else last_activity_at
    return inactivity_expires_at(last, months)


def warning_due(expires_at: datetime | None, now: datetime, lead: timedelta) -> bool:
    """A lot expiring at `expires_at` is warned about from `lead` before it until it expires: now in
    [expires_at - lead, expires_at)."""
    return expires_at is not None and expires_at - lead <= now < expires_at
