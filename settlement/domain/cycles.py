"""A cycle's period and id as pure functions.

Periods are half-open [start, end) and never overlap; the schedule settles the last whole period ending at or before
now (periods aligned to the Unix epoch), starting where the previous cycle ended. A cycle's id is made from its
period start, to the microsecond, so two periods that can both exist (they never overlap, so their starts differ)
never share an id; it is also the id of the cycle's workflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

RESPONSE_STATE = "awaiting_responses"  # the one state in which partners answer their statements


class CycleOverlaps(Exception):
    """A period that ends before it starts, overlaps another cycle's, or is not the period of the cycle's id."""


def cycle_id_for(period_start: datetime) -> str:
    """"cyc-20261123-0000" for a period starting 2026-11-23 00:00 UTC; seconds appended when not zero
    ("cyc-20261123-090530"), and microseconds when not zero ("cyc-20261123-090530.250000")."""
    start = period_start.astimezone(timezone.utc)
    suffix = start.strftime("%H%M")
    if start.second or start.microsecond:
        suffix += start.strftime("%S")
    if start.microsecond:
        suffix += start.strftime(".%f")
    return f"cyc-{start:%Y%m%d}-{suffix}"


def period_ending(now: datetime, period_seconds: int) -> tuple[datetime, datetime]:
    """The last whole period [start, end) ending at or before `now`, periods aligned to the Unix epoch."""
    end_ts = int(now.timestamp()) // period_seconds * period_seconds
    end = datetime.fromtimestamp(end_ts, timezone.utc)
    return end - timedelta(seconds=period_seconds), end


def next_period(now: datetime, period_seconds: int, last_period_end: datetime | None) -> tuple[datetime, datetime] | None:
    """The period the schedule settles now: up to the last whole period's end, from where the last cycle stopped;
    None when no time is left to settle."""
    start, end = period_ending(now, period_seconds)
    if last_period_end is not None:
        start = last_period_end
    return (start, end) if start < end else None
