"""Expiry policies as pure date rules (network.core.expiry): month arithmetic at month ends and leap days, the
calendar year's end, inactivity from the last activity, the day before and the day of expiry, the warning window,
and which contract terms are valid. No database: these run under mutation testing too."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from network.core import expiry, rules


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize("start, months, expected", [
    (utc(2024, 1, 31, 10), 1, utc(2024, 2, 29, 10)),   # leap February
    (utc(2025, 1, 31, 10), 1, utc(2025, 2, 28, 10)),   # common February
    (utc(2025, 3, 31), 1, utc(2025, 4, 30)),           # 31 -> 30-day month
    (utc(2025, 1, 30), 1, utc(2025, 2, 28)),
    (utc(2025, 1, 28), 1, utc(2025, 2, 28)),           # no clamping needed
    (utc(2024, 2, 29), 12, utc(2025, 2, 28)),          # leap day, a year on
    (utc(2024, 2, 29), 48, utc(2028, 2, 29)),
    (utc(2025, 12, 15, 23, 59), 1, utc(2026, 1, 15, 23, 59)),  # across the year end
    (utc(2025, 11, 30), 3, utc(2026, 2, 28)),
    (utc(2025, 5, 31, 12), 0, utc(2025, 5, 31, 12)),
])
def test_add_months_clamps_to_the_months_last_day(start, months, expected):
    assert expiry.add_months(start, months) == expected


def test_add_months_works_in_utc_whatever_the_offset():
    cet = timezone(timedelta(hours=1))
    # 1 February 00:30 in CET is 31 January 23:30 UTC: one month on is 29 February 23:30 UTC (2024)
    assert expiry.add_months(datetime(2024, 2, 1, 0, 30, tzinfo=cet), 1) == utc(2024, 2, 29, 23, 30)


@pytest.mark.parametrize("year, month, days", [(2024, 2, 29), (2025, 2, 28), (1900, 2, 28), (2000, 2, 29),
                                               (2025, 4, 30), (2025, 12, 31), (2025, 1, 31), (2025, 11, 30)])
def test_days_in_month(year, month, days):
    assert expiry.days_in_month(year, month) == days


def test_fixed_policy_in_days_or_months_or_never():
    earned = utc(2025, 1, 31, 8)
    assert expiry.lot_expires_at(expiry.ExpiryPolicy("fixed", 10, 0), earned) == utc(2025, 2, 10, 8)
    assert expiry.lot_expires_at(expiry.ExpiryPolicy("fixed", 0, 1), earned) == utc(2025, 2, 28, 8)
    assert expiry.lot_expires_at(expiry.ExpiryPolicy("fixed", 0, 0), earned) is None


@pytest.mark.parametrize("earned, months, expected", [
    (utc(2026, 3, 10, 14), 3, utc(2027, 4, 1)),
    (utc(2026, 1, 1), 3, utc(2027, 4, 1)),                # the first instant of the year
    (utc(2026, 12, 31, 23, 59, 59), 3, utc(2027, 4, 1)),  # its last second
    (utc(2027, 1, 1), 3, utc(2028, 4, 1)),                # a year later: a year later
    (utc(2026, 6, 1), 0, utc(2027, 1, 1)),                # the end of the year itself
    (utc(2026, 6, 1), 2, utc(2027, 3, 1)),                # end of February, whatever its length
    (utc(2027, 6, 1), 2, utc(2028, 3, 1)),
])
def test_calendar_policy_ends_with_the_earns_year_plus_months(earned, months, expected):
    assert expiry.lot_expires_at(expiry.ExpiryPolicy("calendar", 0, months), earned) == expected


def test_inactivity_lots_have_no_fixed_expiry_and_follow_the_last_activity():
    policy = expiry.ExpiryPolicy("inactivity", 0, 12)
    earned = utc(2025, 3, 1)
    assert expiry.lot_expires_at(policy, earned) is None
    assert expiry.effective_expiry(None, "inactivity", 12, utc(2025, 8, 31, 9), earned) == utc(2026, 8, 31, 9)
    # no activity on record, or older than the lot: the lot's own earn counts
    assert expiry.effective_expiry(None, "inactivity", 12, None, earned) == utc(2026, 3, 1)
    assert expiry.effective_expiry(None, "inactivity", 12, utc(2024, 1, 1), earned) == utc(2026, 3, 1)
    # a lot with its own expiry keeps it; a never-expiring fixed lot never expires
    assert expiry.effective_expiry(utc(2025, 5, 1), "fixed", 0, utc(2025, 8, 1), earned) == utc(2025, 5, 1)
    assert expiry.effective_expiry(None, "fixed", 0, utc(2025, 8, 1), earned) is None


@pytest.mark.parametrize("policy, earned, activity", [
    (expiry.ExpiryPolicy("fixed", 30, 0), utc(2024, 2, 1), None),
    (expiry.ExpiryPolicy("fixed", 0, 1), utc(2024, 1, 31), None),
    (expiry.ExpiryPolicy("calendar", 0, 2), utc(2023, 7, 4), None),
    (expiry.ExpiryPolicy("inactivity", 0, 1), utc(2024, 1, 2), utc(2024, 1, 31, 18)),
])
def test_the_day_before_expiry_is_spendable_and_the_day_of_is_not(policy, earned, activity):
    expires = expiry.effective_expiry(expiry.lot_expires_at(policy, earned), policy.policy, policy.months, activity,
                                      earned)
    assert expires is not None
    assert not rules.is_expired(expires, expires - timedelta(days=1))
    assert not rules.is_expired(expires, expires - timedelta(microseconds=1))
    assert rules.is_expired(expires, expires)


@pytest.mark.parametrize("policy, field", [
    (expiry.ExpiryPolicy("monthly", 0, 1), "expiry_policy"),
    (expiry.ExpiryPolicy("fixed", 10, 1), "expiry_months"),
    (expiry.ExpiryPolicy("calendar", 10, 1), "expiry_days"),
    (expiry.ExpiryPolicy("inactivity", 0, 0), "expiry_months"),
    (expiry.ExpiryPolicy("inactivity", 0, 121), "expiry_months"),
    (expiry.ExpiryPolicy("fixed", 3651, 0), "expiry_days"),
    (expiry.ExpiryPolicy("fixed", -1, 0), "expiry_days"),
])
def test_policy_problems_name_the_field(policy, field):
    problem = expiry.policy_problem(policy)
    assert problem is not None and problem[0] == field


@pytest.mark.parametrize("policy", [expiry.ExpiryPolicy("fixed", 0, 0), expiry.ExpiryPolicy("fixed", 3650, 0),
                                    expiry.ExpiryPolicy("fixed", 0, 120), expiry.ExpiryPolicy("calendar", 0, 0),
                                    expiry.ExpiryPolicy("inactivity", 0, 1)])
def test_valid_policies(policy):
    assert expiry.policy_problem(policy) is None


def test_warning_window_is_lead_before_expiry_until_expiry():
    expires, lead = utc(2025, 6, 1), timedelta(days=30)
    assert not expiry.warning_due(expires, utc(2025, 5, 1) - timedelta(microseconds=1), lead)
    assert expiry.warning_due(expires, utc(2025, 5, 2), lead)
    assert expiry.warning_due(expires, expires - timedelta(microseconds=1), lead)
    assert not expiry.warning_due(expires, expires, lead)
    assert not expiry.warning_due(None, expires, lead)
