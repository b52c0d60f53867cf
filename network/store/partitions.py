"""Bounded tables: the journal, postings and idempotency keys are partitioned by time (declarative range
partitioning), partitions are created ahead, and idempotency partitions are dropped whole after the retention window.

- journal and postings: RANGE (tx_id), one partition per calendar month (UTC). Every tx_id is an RFC 9562 UUIDv7,
  whose first 48 bits are its Unix time in milliseconds, so a month is the range [uuid7_floor(month start),
  uuid7_floor(next month start)). The primary keys (journal: tx_id; postings: tx_id, line) already hold the
  partition key, every lookup by tx_id is pruned to one partition, and a journal row and its postings sit in the
  partitions of the same month. A DEFAULT partition takes any id outside the monthly ranges (none is written today),
  so no write ever fails for want of a partition.
- idempotency_keys: RANGE (created_at), one partition per UTC week (Monday to Monday); the primary key is
  (partner_id, request_id,
  created_at) as PostgreSQL requires. A key stays unique within the retention window because every claim takes the
  key's advisory transaction lock first (network.store.idempotency), and lookups read only keys inside the window.
  A DEFAULT partition takes rows past the weeks created ahead; `ensure_partitions` moves them into their week.
  Weeks, not days: a lookup reads every partition that may hold a key inside the window (from now - retention to
  a day ahead), one index probe each, on every claim: with the default 7-day window that is 2 or 3 weeks instead
  of 8 or 9 days. Every lookup also names the window's weeks as constants (live_idempotency_range), so the
  planner keeps only those weeks, even in the generic plan of a prepared statement. (Measured, cause still open:
  `coalition bench earn` shows PostgreSQL's CPU per unary earn higher with the tables partitioned; the serving
  backend's own CPU per earn transaction is not: see docs/architecture.md, "Beyond one database".)

Partitions are kept `MONTHS_AHEAD` months and `WEEKS_AHEAD` weeks ahead by `ensure_partitions`, run by the server at
start, by housekeeping (settlement's schedule) and by `coalition ledger partitions`. `drop_expired_idempotency`
drops a week partition only when its whole range lies before now - retention (exact at the boundary: every key in
it is past the window), and deletes expired rows that sit in the default partition.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Iterator

from sqlalchemy import Connection, text

MONTHS_AHEAD = 2
WEEKS_AHEAD = 2
LOCK_TIMEOUT = "5s"  # DDL on a parent waits at most this long for its lock (a busy server is not held up)


def uuid7_floor(at: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of the millisecond `at` (UTC): its 48 time bits, every other bit zero."""
    if at.tzinfo is None:
        raise ValueError("uuid7_floor needs an aware datetime")
    millis = (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
    if not 0 <= millis < 1 << 48:
        raise ValueError(f"{at} is outside UUIDv7's 48-bit millisecond range")
    return uuid.UUID(int=millis << 80)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Partition:
    """One range partition: its table, its parent and its bounds as SQL literals."""

    parent: str
    name: str
    start: date
    end: date  # exclusive

    @property
    def bounds(self) -> tuple[str, str]:
        if self.parent == "idempotency_keys":
            return f"'{_midnight(self.start).isoformat()}'", f"'{_midnight(self.end).isoformat()}'"
        return f"'{uuid7_floor(_midnight(self.start))}'", f"'{uuid7_floor(_midnight(self.end))}'"

    @property
    def key_column(self) -> str:
        return "created_at" if self.parent == "idempotency_keys" else "tx_id"

    def create_sql(self) -> str:
        low, high = self.bounds
        return f"CREATE TABLE IF NOT EXISTS {self.name} PARTITION OF {self.parent} FOR VALUES FROM ({low}) TO ({high})"


MONTHLY = ("journal", "postings")
WEEKLY = ("idempotency_keys",)
PARTITIONED = MONTHLY + WEEKLY
_NAME = re.compile(r"^(journal|postings|idempotency_keys)_p(\d{4})_(\d{2})(?:_(\d{2}))?$")


def monthly(parent: str, start: date) -> Partition:
    start = month_start(start)
    return Partition(parent, f"{parent}_p{start:%Y_%m}", start, next_month(start))


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())  # the Monday of day's week


def weekly(parent: str, day: date) -> Partition:
    monday = week_start(day)
    return Partition(parent, f"{parent}_p{monday:%Y_%m_%d}", monday, monday + timedelta(days=7))


def wanted(first: date, now: datetime, *, months_ahead: int = MONTHS_AHEAD, weeks_ahead: int = WEEKS_AHEAD,
           first_day: date | None = None) -> Iterator[Partition]:
    """The partitions from the month of `first` (the idempotency weeks from the week of `first_day`, default today)
    up to the ones covering `now` plus the months and weeks ahead."""
    today = now.astimezone(timezone.utc).date()
    last_month = month_start(today)
    for _ in range(months_ahead):
        last_month = next_month(last_month)
    for parent in MONTHLY:
        month = month_start(min(first, today))
        while month <= last_month:
            yield monthly(parent, month)
            month = next_month(month)
    week = week_start(min(first_day or today, today))
    while week <= today + timedelta(weeks=weeks_ahead):
        yield weekly("idempotency_keys", week)
        week += timedelta(weeks=1)


def parse_name(name: str) -> Partition | None:
    match = _NAME.match(name)
    if match is None:
        return None
    parent, year, month, day = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
    if day is None:
        return monthly(parent, date(year, month, 1))
    start = date(year, month, int(day))
    return weekly(parent, start) if start.weekday() == 0 else None


def existing(conn: Connection) -> dict[str, Partition]:
    """The range partitions of the partitioned tables, by name (the default partitions are not listed)."""
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(:parents)"), {"parents": list(PARTITIONED)})
    found = {}
    for (name,) in rows:
        partition = parse_name(name)
        if partition is not None:
            found[name] = partition
    return found


def _has_default(conn: Connection, parent: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:d) IS NOT NULL"), {"d": f"{parent}_default"}).scalar_one()


def create_partition(conn: Connection, partition: Partition) -> None:
    """Create one partition; rows of its range already in the default partition move into it (on demand)."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    low, high = partition.bounds
    default = f"{partition.parent}_default"
    key = partition.key_column
    if _has_default(conn, partition.parent) and conn.execute(text(
            f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {key} >= {low} AND {key} < {high})")).scalar_one():
        conn.execute(text(f"CREATE TABLE {partition.name} (LIKE {partition.parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
        conn.execute(text(f"WITH moved AS (DELETE FROM {default} WHERE {key} >= {low} AND {key} < {high} RETURNING *) "
                          f"INSERT INTO {partition.name} SELECT * FROM moved"))
        conn.execute(text(f"ALTER TABLE {partition.parent} ATTACH PARTITION {partition.name} "
                          f"FOR VALUES FROM ({low}) TO ({high})"))
        return
    conn.execute(text(partition.create_sql()))


def ensure_partitions(conn: Connection, now: datetime, *, months_ahead: int = MONTHS_AHEAD,
                      weeks_ahead: int = WEEKS_AHEAD) -> list[str]:
    """Create the partitions missing from this month (today) to the horizon ahead; return their names."""
    have = existing(conn)
    created = []
    for partition in wanted(now.date(), now, months_ahead=months_ahead, weeks_ahead=weeks_ahead):
        if partition.name not in have:
            create_partition(conn, partition)
            created.append(partition.name)
    return created


# The most the application's clock may differ from the database's: live_idempotency_range widens by this much.
CLOCK_SKEW = timedelta(hours=1)


def live_idempotency_range(now: datetime, retention_seconds: int) -> tuple[datetime, datetime]:
    """Week-aligned bounds that contain every key a lookup may answer, [now - retention, now + 1 day), widened by
    CLOCK_SKEW on both sides (now: the application's clock).

    Sent to PostgreSQL as constants next to the exact, now()-relative window, they let the planner prune the
    idempotency partitions when it plans the statement: a generic plan of a prepared statement, or a plan made
    from parameters that are not constants, keeps (and locks at every execution) every partition and the default
    one, pruned only at run time. Week-aligned, the constants change once a week (a prepared statement per
    week); where the weeks of the range exist (on a database older than the window: they were created ahead) the
    default partition is pruned too."""
    start = week_start((now - timedelta(seconds=retention_seconds) - CLOCK_SKEW).astimezone(timezone.utc).date())
    end = week_start((now + timedelta(days=1) + CLOCK_SKEW).astimezone(timezone.utc).date()) + timedelta(weeks=1)
    return _midnight(start), _midnight(end)


def expired_idempotency_partitions(partitions: list[Partition], now: datetime,
                                   retention_seconds: int) -> list[Partition]:
    """The week partitions whose every key is past the window: end <= now - retention (a key created at the
    instant now - retention is still inside it, and the range's end is exclusive)."""
    horizon = now - timedelta(seconds=retention_seconds)
    return sorted((p for p in partitions if p.parent == "idempotency_keys" and _midnight(p.end) <= horizon),
                  key=lambda p: p.start)


def drop_expired_idempotency(conn: Connection, retention_seconds: int) -> tuple[list[str], int]:
    """Drop the idempotency partitions past the window (by the database clock); delete the expired keys that sit
    in the default partition. Return the partitions dropped and how many keys went in all."""
    now = conn.execute(text("SELECT now()")).scalar_one()
    dropped, deleted = [], 0
    for partition in expired_idempotency_partitions(list(existing(conn).values()), now, retention_seconds):
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        deleted += conn.execute(text(f"SELECT count(*) FROM {partition.name}")).scalar_one()
        conn.execute(text(f"DROP TABLE {partition.name}"))
        dropped.append(partition.name)
    if _has_default(conn, "idempotency_keys"):
        deleted += conn.execute(text("DELETE FROM idempotency_keys_default "
                                    "WHERE created_at < now() - make_interval(secs => :r)"),
                               {"r": retention_seconds}).rowcount
    return dropped, deleted


def is_partitioned(conn: Connection, table: str) -> bool:
    return conn.execute(text("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table t JOIN pg_class c ON c.oid = t.partrelid "
                             "WHERE c.relname = :t)"), {"t": table}).scalar_one()
