"""Birthdays in the programme: the birthday bonus (a lifecycle campaign kind given by the housekeeping task, once
per member and year) and the birthday-month segment of earn campaigns. The programme reads the birth month and day
the account's sign-up copied into member_birthdays (the birth date itself stays encrypted), and forgets them when
the account is erased."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from network.core import campaigns as core
from network.core.accounts import PersonalData
from network.core.campaigns import NETWORK_ISSUER, Campaign, Conditions, Effects, Funder
from network.mail import OutboxMailer
from network.store import birthdays
from network.store.accounts import Accounts, KeyRing
from network.store.campaigns import create_campaign, set_campaign_status
from network.store.ledger import build_ledger

pytestmark = pytest.mark.usefixtures("verified_ledger")


def test_birthdays_on_a_day_and_29_february_in_a_common_year():
    assert core.birthdays_on(date(2026, 11, 30)) == [(11, 30)]
    assert core.birthdays_on(date(2027, 2, 28)) == [(2, 28), (2, 29)]  # a common year: 29 February's born too
    assert core.birthdays_on(date(2028, 2, 28)) == [(2, 28)]  # a leap year: they wait a day
    assert core.birthdays_on(date(2028, 2, 29)) == [(2, 29)]
    assert core.birthdays_on(date(2027, 3, 1)) == [(3, 1)]


def test_the_birthday_segment_is_the_birth_month():
    c = Campaign("b", "b", (Funder("p", 10_000),), Conditions(segment="birthday"), Effects(fixed_points=5))
    assert core.problems(c) == []  # no number of days needed
    def earn(at: datetime, month: int | None) -> bool:
        return core.matches(c, core.EarnContext("p", "", at, 10, None, member=core.MemberFacts(birth_month=month)))
    assert earn(datetime(2026, 5, 1, tzinfo=timezone.utc), 5)
    assert earn(datetime(2026, 5, 31, 23, 59, tzinfo=timezone.utc), 5)
    assert not earn(datetime(2026, 4, 30, 23, 59, tzinfo=timezone.utc), 5)
    assert not earn(datetime(2026, 6, 1, tzinfo=timezone.utc), 5)
    assert not earn(datetime(2026, 5, 15, tzinfo=timezone.utc), None)  # birth date not known: not in the segment
    bad = Campaign("b", "b", (Funder("p", 10_000),), Conditions(segment="birthdays"), Effects(fixed_points=5))
    assert [r for r, _ in core.problems(bad)] == ["CAMPAIGN_CONDITION_INVALID"]


@pytest.fixture
def accounts(engine, tmp_path) -> Accounts:
    return Accounts(engine, KeyRing.from_master(b"b" * 32), OutboxMailer(tmp_path / "outbox", "network@test"))


def member_born(network, accounts: Accounts, born: date | None) -> tuple[str, str]:
    """A member with an account giving this birth date: (member id, account id)."""
    enrolled = network.enroll_member()
    account_id = accounts.sign_up(enrolled.member.card_number, enrolled.activation_code,
                                  PersonalData(f"b-{uuid.uuid4().hex[:10]}@example.com", "Ann", "", born))
    return enrolled.member.member_id, account_id


def campaign(engine, kind: str, points: int, **conditions) -> str:
    campaign_id = f"{kind}-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        create_campaign(conn, Campaign(campaign_id, campaign_id, (Funder(NETWORK_ISSUER, 10_000),),
                                       Conditions(**conditions), Effects(fixed_points=points), kind=kind),
                        "test", "EUR")
    return campaign_id


def end(engine, campaign_id: str) -> None:
    with engine.begin() as conn:
        set_campaign_status(conn, campaign_id, "end", "test")


def test_birthday_bonus_on_the_day_once_a_year_and_none_after_erasure(engine, settings, make_partner, accounts):
    shop = make_partner("bd")
    today = datetime.now(timezone.utc).date()
    ledger = build_ledger(engine, settings)
    with shop.client() as network:
        on_the_day, _ = member_born(network, accounts, date(1992, today.month, today.day))  # 1992: a leap year
        tomorrow = today + timedelta(days=1)
        day_before, _ = member_born(network, accounts, date(1992, tomorrow.month, tomorrow.day))
        yesterday = today - timedelta(days=1)
        day_after, _ = member_born(network, accounts, date(1992, yesterday.month, yesterday.day))
        unknown, _ = member_born(network, accounts, None)
        erased, erased_account = member_born(network, accounts, date(1988, today.month, today.day))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT birth_month, birth_day FROM member_birthdays WHERE member_id = :m"),
                            {"m": on_the_day}).one() == (today.month, today.day)  # month and day only
    accounts.erase(erased_account, ledger, "operator-1", "member asked")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM member_birthdays WHERE member_id = :m"),
                            {"m": erased}).scalar_one() == 0
    cake = campaign(engine, "birthday", 40)
    try:
        for _ in range(3):  # the task runs every minute: once a year all the same
            with engine.begin() as conn:
                ledger.award_lifecycle_bonuses(conn)
        with engine.connect() as conn:
            given = {r.member_id: (r.occasion, r.points) for r in conn.execute(text(
                "SELECT a.member_id::text AS member_id, a.occasion, l.points FROM lifecycle_awards a "
                "JOIN lots l ON l.earn_tx_id = a.tx_id WHERE a.campaign_id = :c"), {"c": cake})}
            kinds = {k for k, in conn.execute(text("SELECT kind FROM earn_components WHERE campaign_id = :c"),
                                               {"c": cake})}
        assert given.get(on_the_day) == (f"birthday:{today.year}", 40)
        for member in (day_before, day_after, unknown, erased):
            assert member not in given
        assert kinds == {"birthday"}
        with shop.client() as network:
            assert network.get_balance(on_the_day).available_points == 40
    finally:
        end(engine, cake)


def test_29_february_birthdays_are_due_on_28_february_of_a_common_year(engine, make_partner, accounts):
    shop = make_partner("leap")
    with shop.client() as network:
        leapling, _ = member_born(network, accounts, date(2000, 2, 29))
        eve, _ = member_born(network, accounts, date(2001, 2, 28))
    probe = Campaign(f"probe-{uuid.uuid4().hex[:8]}", "probe", (Funder(NETWORK_ISSUER, 10_000),),
                     effects=Effects(fixed_points=1), kind="birthday")
    def due_on(day: date) -> set[str]:
        with engine.connect() as conn:
            return {r.member_id for r in birthdays.due(conn, [probe], day, limit=100_000)} & {leapling, eve}
    assert due_on(date(2027, 2, 27)) == set()  # the day before
    assert due_on(date(2027, 2, 28)) == {leapling, eve}  # a common year
    assert due_on(date(2028, 2, 28)) == {eve}  # a leap year: 29 February comes
    assert due_on(date(2028, 2, 29)) == {leapling}
    assert due_on(date(2027, 3, 1)) == set()


def test_a_birthday_month_campaign_rewards_earns_in_the_members_birth_month(engine, make_partner, accounts):
    shop = make_partner("bm", earn_points_per_major=1)
    this_month = datetime.now(timezone.utc).month
    other_month = this_month % 12 + 1
    month_bonus = campaign(engine, "earn", 7, partners=(shop.partner_id,), segment="birthday")
    try:
        with shop.client() as network:
            born_now, _ = member_born(network, accounts, date(1990, this_month, 1))
            born_later, _ = member_born(network, accounts, date(1990, other_month, 1))
            plain = network.enroll_member().member.member_id  # no account: no birth date known
            preview = network.preview_earn(born_now, amount_minor=1000)
            earned = network.earn(born_now, amount_minor=1000)
            assert [(c.kind, c.campaign_id, c.points) for c in earned.components if c.kind == "campaign"] == [
                ("campaign", month_bonus, 7)]
            assert earned.total_points == preview.total_points == 17
            for member in (born_later, plain):
                assert network.earn(member, amount_minor=1000).total_points == 10
    finally:
        end(engine, month_bonus)


def test_century_years_follow_the_gregorian_leap_rule():
    assert core.birthdays_on(date(2100, 2, 28)) == [(2, 28), (2, 29)]  # 2100 is a common year
    assert core.birthdays_on(date(2000, 2, 28)) == [(2, 28)]  # 2000 was a leap year
