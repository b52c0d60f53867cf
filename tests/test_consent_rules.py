"""The pure consent rules (network.core.consent) at their boundaries: which one-line change each test catches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from network.core import consent

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
LOCK = timedelta(minutes=15)


def test_the_fifth_failure_locks_and_starts_the_count_again():
    assert consent.after_failure(3, NOW, 5, LOCK) == consent.FailureOutcome(4, None)
    assert consent.after_failure(4, NOW, 5, LOCK) == consent.FailureOutcome(0, NOW + LOCK)
    assert consent.after_failure(0, NOW, 1, LOCK) == consent.FailureOutcome(0, NOW + LOCK)


def test_a_lock_holds_until_its_end_exclusive():
    end = NOW + LOCK
    assert consent.is_locked(end, end - timedelta(microseconds=1))
    assert not consent.is_locked(end, end)
    assert not consent.is_locked(None, NOW)


def test_spend_needs_verification_except_small_spends_at_the_own_till():
    assert consent.spend_needs(False, "till", 50, 50) == consent.FREE
    assert consent.spend_needs(False, "till", 51, 50) == consent.NEEDS_VERIFICATION
    assert consent.spend_needs(False, "earn", 1, 50) == consent.NEEDS_VERIFICATION
    assert consent.spend_needs(False, "spend", 1, 50) == consent.NEEDS_VERIFICATION
    assert consent.spend_needs(False, None, 1, 50) == consent.NEEDS_VERIFICATION
    assert consent.spend_needs(False, "till", 1, 0) == consent.NEEDS_VERIFICATION
    assert consent.spend_needs(True, None, 10**9, 0) == consent.FREE


def test_a_code_is_usable_once_before_its_expiry_up_to_its_ceiling():
    expiry = NOW + timedelta(minutes=5)
    assert consent.code_usable(expiry, None, 40, 40, expiry - timedelta(microseconds=1))
    assert not consent.code_usable(expiry, None, 40, 40, expiry)
    assert not consent.code_usable(expiry, None, 40, 41, NOW)
    assert not consent.code_usable(expiry, NOW, 40, 1, NOW)


def test_velocity_refuses_the_one_past_the_limit():
    assert not consent.velocity_breach(2, 3)  # the third is allowed
    assert consent.velocity_breach(3, 3)      # the fourth is refused
    assert not consent.velocity_breach(10**6, 0)  # 0: no limit
