"""Idempotency: keys are kept for a configured window (default 7 days, never under 24 hours),
then purged by housekeeping in batches; a request resent after the window is executed as a new request."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from network.settings import NetworkSettings
from network.store import idempotency

pytestmark = pytest.mark.usefixtures("verified_ledger")

DAY = 86400


def test_retention_defaults_to_seven_days_and_refuses_less_than_a_day(monkeypatch):
    assert NetworkSettings().idempotency_retention_seconds == 7 * DAY
    assert NetworkSettings(idempotency_retention_seconds=DAY).idempotency_retention_seconds == DAY
    with pytest.raises(ValidationError, match="at least 86400 seconds"):
        NetworkSettings(idempotency_retention_seconds=DAY - 1)
    monkeypatch.setenv("COALITION_IDEMPOTENCY_RETENTION_SECONDS", "3600")  # as the settings are loaded
    with pytest.raises(ValidationError, match="COALITION_IDEMPOTENCY_RETENTION_SECONDS is 3600"):
        NetworkSettings()


def _age(engine, partner_id: str, request_id: str, seconds: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_keys SET created_at = now() - make_interval(secs => :s) "
                          "WHERE partner_id = :p AND request_id = :r"), {"s": seconds, "p": partner_id, "r": request_id})


def _keys(engine, partner_id: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT request_id FROM idempotency_keys WHERE partner_id = :p"),
                                {"p": partner_id}).scalars())


def test_keys_past_the_window_are_new_requests_and_are_purged(engine, make_partner):
    shop = make_partner("retain")
    window = 7 * DAY
    with shop.client() as network:
        member = network.enroll_member().member
        first = network.earn(member.member_id, points=25, request_id="till-1-sale-1")
        kept = network.earn(member.member_id, points=1, request_id="till-1-sale-2")
        assert network.earn(member.member_id, points=25, request_id="till-1-sale-1") == first  # inside the window
        others = [network.earn(member.member_id, points=1, request_id=f"old-{i}") for i in range(3)]
        _age(engine, shop.partner_id, "till-1-sale-1", window + 1)
        _age(engine, shop.partner_id, "till-1-sale-2", window - 60)  # one minute inside the window: kept
        for i in range(3):
            _age(engine, shop.partner_id, f"old-{i}", window + 10)

        # past the window a key is never answered again, even before housekeeping removes it
        again = network.earn(member.member_id, points=25, request_id="till-1-sale-1")
        assert again.transaction_id != first.transaction_id and again.points == 25
        assert network.earn(member.member_id, points=1, request_id="till-1-sale-2") == kept  # replayed, nothing posted

        purged = idempotency.purge_expired(engine, window)  # ours (and any other test's) expired keys
        assert purged >= 4
        assert {"old-0", "old-1", "old-2"}.isdisjoint(_keys(engine, shop.partner_id))
        assert {"till-1-sale-1", "till-1-sale-2"} <= _keys(engine, shop.partner_id)  # the new claim and the kept one
        assert network.earn(member.member_id, points=25, request_id="till-1-sale-1") == again  # the new one replays
        balance = network.get_balance(member.member_id)
    assert balance.available_points == 25 + 1 + 3 + 25  # the first sale's points were posted twice
    assert len(others) == 3
    with engine.connect() as conn:
        earns = conn.execute(text("SELECT count(*) FROM journal WHERE partner_id = :p AND request_id = 'till-1-sale-1'"),
                             {"p": shop.partner_id}).scalar_one()
    assert earns == 2


def test_purge_keeps_keys_inside_the_window(engine):
    before = _all_keys(engine)
    assert idempotency.purge_expired(engine, 10 * 365 * DAY) == 0  # nothing is ten years old
    assert _all_keys(engine) == before


def _all_keys(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM idempotency_keys")).scalar_one()
