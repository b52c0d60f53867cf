"""The console's Members page shows the anomaly flags under AppTest against the real database: a
member who redeemed at 3 partners within minutes (a spend spree) and one who sent 5 transfers within the hour (a
transfer burst) are flagged; members one short of either threshold, or spread wider than its window, are not; a
member's notifications are shown with the member; 5 wrong PINs within the hour (verification_failures) are
flagged, 4 are not."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import text

from network.core.results import EarnItem, SpendRefs
from network.store.contracts import ContractBook
from network.store.ledger import Ledger, build_ledger
from network.store.transfers import ANOMALY_THRESHOLDS, transfer_points
from test_console_pages import VIEWER, VIEWER_PASSWORD, console_env, logged_in, page, password_hashes, table  # noqa: F401


def test_members_page_flags_spend_sprees_and_transfer_bursts(console_env, engine, settings, make_partner):
    assert (ANOMALY_THRESHOLDS.spree_partners, ANOMALY_THRESHOLDS.burst_transfers) == (3, 5)
    shops = [make_partner("spree") for _ in range(3)]
    ledger = build_ledger(engine, settings)
    unlimited = settings.model_copy(update={"transfer_min_points": 1, "transfer_max_per_day": 0})
    with engine.begin() as conn:
        spree, calm, burst, steady, friend = (ledger.enroll_member(conn, shops[0].partner_id, "", "")[0].member_id
                                              for _ in range(5))
        ledger.earn_batch(conn, [(shops[0].partner_id, EarnItem(uuid.uuid4().hex, m, None, None, 1000))
                                 for m in (spree, calm, burst, steady)])
        for shop in shops:
            ledger.redeem(conn, shop.partner_id, spree, 10, SpendRefs(), None)
        for shop in shops[:2]:
            ledger.redeem(conn, shop.partner_id, calm, 10, SpendRefs(), None)
    for i in range(5):
        transfer_points(engine, burst, friend, 10, f"burst-{i}", settings=unlimited)
    for i in range(4):
        transfer_points(engine, steady, friend, 10, f"steady-{i}", settings=unlimited)
    # the same counts spread wider than the windows: 3 partners 6 minutes apart (12 > 10), 5 transfers 20 apart
    start = datetime.now(timezone.utc) + timedelta(hours=1)
    moment = [start]
    slow_ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                         shards=settings.ledger_shards, clock=lambda: moment[0])
    with engine.begin() as conn:
        slow = ledger.enroll_member(conn, shops[0].partner_id, "", "")[0].member_id
        ledger.earn_batch(conn, [(shops[0].partner_id, EarnItem(uuid.uuid4().hex, slow, None, None, 1000))])
    for i, shop in enumerate(shops):
        moment[0] = start + timedelta(minutes=6 * i)
        with engine.begin() as conn:
            slow_ledger.redeem(conn, shop.partner_id, slow, 10, SpendRefs(), None)
    for i in range(5):
        transfer_points(engine, slow, friend, 10, f"slow-{i}", start + timedelta(minutes=20 * i), settings=unlimited)

    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "members")
    shown = {(row["member_id"], row["flag"]): row["count"] for _, row in table(at, "flag").iterrows()}
    assert shown[(spree, "spend spree")] == 3 and shown[(burst, "transfer burst")] == 5
    assert not {key for key in shown if key[0] in (calm, steady, friend, slow)}
    at.text_input(key="member_query").input(burst).run()
    assert not at.exception
    notes = table(at, "transfer_id")
    assert notes[["seq", "type", "points"]].values.tolist() == [[5 - i, "transfer.sent", 10] for i in range(5)]


def test_members_page_flags_many_failed_pins(console_env, engine, settings, make_partner):
    """5 wrong PINs within the hour (at two partners, across the lock they cause) are flagged; 4, or 5 spread over
    more than the hour, or 5 wrong one-time codes, are not."""
    from network.store import consent, credentials
    from network.store.consent import ConsentPolicy, Verification

    assert (ANOMALY_THRESHOLDS.failed_pins, ANOMALY_THRESHOLDS.failed_pin_window) == (5, timedelta(hours=1))
    shop, other = make_partner("pins"), make_partner("pins-2")
    ledger = build_ledger(engine, settings)
    with engine.begin() as conn:
        guesser, careless, slow, coder = (ledger.enroll_member(conn, shop.partner_id, "", "")[0].member_id
                                          for _ in range(4))
        for member in (guesser, careless, slow):
            credentials.set_pin(conn, member, "2580", params=credentials.ScryptParams(2**10, 8, 1))
    policy = ConsentPolicy(max_failures=100)  # no lock in the way: the flag counts failures, not locks
    start = datetime.now(timezone.utc) - timedelta(hours=3)

    def wrong(member: str, at: datetime, partner: str, pin: str = "2581", code: str = "") -> None:
        try:
            consent.verify(engine, uuid.UUID(member), Verification(pin=pin, code=code), 1, at, policy, partner)
        except Exception as exc:  # noqa: BLE001 - the refusal is the point; its reason is checked
            assert getattr(exc, "reason", None) == "MEMBER_VERIFICATION_FAILED", exc
        else:
            raise AssertionError("a wrong PIN was accepted")

    for i in range(5):  # 5 within 4 minutes, at two partners
        wrong(guesser, start + timedelta(minutes=i), (shop, other)[i % 2].partner_id)
    for i in range(4):  # one short
        wrong(careless, start + timedelta(minutes=i), shop.partner_id)
    for i in range(5):  # 5 spread over 80 minutes: at most 4 within any hour
        wrong(slow, start + timedelta(minutes=20 * i), shop.partner_id)
    for i in range(5):  # wrong codes are not PINs
        wrong(coder, start + timedelta(minutes=i), shop.partner_id, pin="", code="0000000000")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(DISTINCT partner_id) FROM verification_failures WHERE member_id = :m"),
                            {"m": guesser}).scalar_one() == 2

    at = page(logged_in(VIEWER, VIEWER_PASSWORD), "members")
    shown = {(row["member_id"], row["flag"]): row["count"] for _, row in table(at, "flag").iterrows()}
    assert shown[(guesser, "failed PINs")] == 5
    assert not {key for key in shown if key[0] in (careless, slow, coder)}
    assert any("Failed PINs: 5 or more wrong PINs" in c.value for c in at.caption)
