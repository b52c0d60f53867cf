"""Members' birthdays for the programme: the birthday bonus (a lifecycle campaign kind) and the birthday-month
segment of earn campaigns.

The birth date is personal data, encrypted under the member account's own key (network.store.accounts). The
programme never decrypts it: when an account is created, the month and day of its birth date (not the year) are
copied into member_birthdays for the card's member (and for each card linked to the account later, from the
account's other cards), and deleted with the account's keys when it is erased (crypto-shredding): an erased member
is in no birthday segment and gets no birthday bonus. The earn reads the birth month with the member, in its first
round trip (network.store.earn_plan.MEMBERS_OF_ITEMS: one primary-key lookup).

The bonus: the housekeeping task `award_lifecycle_bonuses` gives each active birthday campaign's fixed points to the
members whose birthday it is today (UTC; 29 February's born on 28 February of a common year), once per campaign,
member and year (occasion 'birthday:YYYY', network.store.lifecycle.award), whatever the re-runs.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Iterable, Sequence

from sqlalchemy import Connection, text

from network.core.campaigns import Campaign, birthdays_on
from network.store import lifecycle

BIRTHDAY = "birthday"


def set_birthday(conn: Connection, member_id: uuid.UUID | str, birth_date: date | None) -> None:
    """Record (or, with None, forget) the month and day of the member's birth date."""
    if birth_date is None:
        conn.execute(text("DELETE FROM member_birthdays WHERE member_id = :m"), {"m": member_id})
        return
    conn.execute(text("INSERT INTO member_birthdays (member_id, birth_month, birth_day) VALUES (:m, :mo, :d) "
                      "ON CONFLICT (member_id) DO UPDATE SET birth_month = excluded.birth_month, "
                      "birth_day = excluded.birth_day"),
                 {"m": member_id, "mo": birth_date.month, "d": birth_date.day})


def copy_to_card(conn: Connection, account_id: uuid.UUID, member_id: uuid.UUID | str) -> None:
    """A card newly linked to an account gets the birthday its other cards have (no decryption)."""
    conn.execute(text("INSERT INTO member_birthdays (member_id, birth_month, birth_day) SELECT :m, b.birth_month, "
                      "b.birth_day FROM member_birthdays b JOIN account_cards c ON c.member_id = b.member_id "
                      "WHERE c.account_id = :a AND c.member_id <> :m LIMIT 1 ON CONFLICT (member_id) DO NOTHING"),
                 {"m": member_id, "a": account_id})


def forget(conn: Connection, member_ids: Iterable[uuid.UUID | str]) -> None:
    """Erasure: the programme's copy of the birthdays goes with the account's keys."""
    ids = [str(m) for m in member_ids]
    if ids:
        conn.execute(text("DELETE FROM member_birthdays WHERE member_id = ANY(CAST(:m AS uuid[]))"), {"m": ids})


_DUE = ("SELECT m.member_id::text AS member_id, m.shard FROM member_birthdays b JOIN members m USING (member_id) "
        "WHERE (b.birth_month, b.birth_day) IN (SELECT * FROM unnest(CAST(:months AS int[]), CAST(:days AS int[]))) "
        "AND (SELECT count(*) FROM lifecycle_awards a WHERE a.member_id = m.member_id AND a.occasion = :o "
        "AND a.campaign_id = ANY(:c)) < :n ORDER BY m.member_id LIMIT :limit")


def occasion_of(today: date) -> str:
    return f"{BIRTHDAY}:{today.year}"


def due(conn: Connection, campaigns: Sequence[Campaign], today: date, limit: int = 500) -> list:
    """The members whose birthday is `today` (UTC date) and whom some of these campaigns have not rewarded this
    year: rows of (member_id, shard)."""
    days = birthdays_on(today)
    return conn.execute(text(_DUE), {"months": [d[0] for d in days], "days": [d[1] for d in days],
                                     "o": occasion_of(today), "c": [c.campaign_id for c in campaigns],
                                     "n": len(campaigns), "limit": limit}).all()


def award_birthdays(conn: Connection, contracts, write, campaigns: Sequence[Campaign], now: datetime,
                    limit: int = 500) -> int:
    """Give each birthday campaign's bonus to the members whose birthday is today, once per campaign and year; the
    awards made."""
    if not campaigns:
        return 0
    today = now.astimezone(timezone.utc).date()
    awarded = 0
    for r in due(conn, campaigns, today, limit):
        for campaign in campaigns:
            awarded += bool(lifecycle.award(conn, contracts, write, campaign, r.member_id, r.shard,
                                            occasion_of(today), now))
    return awarded
