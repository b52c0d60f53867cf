"""Ledger time and the settlement cut-off: every ledger transaction settles in exactly one cycle, whatever its
commit delay, because the cut-off goes by commit order, not by a grace period.

- A transaction that writes the journal first takes the ledger-time lock in shared mode (an advisory lock held to
  its commit), then reads the cut-off watermark (ledger_cutoff.closed_before: the end of the latest closed period)
  and dates itself max(its clock, watermark).
- Cutting a period off takes the same lock in exclusive mode, which waits until every transaction holding it
  shared has committed or rolled back (however long a row lock held it up), and moves the watermark to the
  period's end in the same transaction. Transactions that start meanwhile wait behind it (PostgreSQL queues them
  behind the exclusive request), then read the new watermark.
So a transaction dated before a period's end has committed before that period was cut off, and one that commits
after the cut-off is dated at or after its end, whatever the clocks of the processes involved say.
The earn hot path takes the lock and reads the watermark inside its first round trip (network.store.earn).
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import Connection, text

LEDGER_TIME_LOCK = 0x436F616C  # the advisory lock key ("Coal")
SHARE_LEDGER_TIME = f"SELECT pg_advisory_xact_lock_shared({LEDGER_TIME_LOCK})"
# Read after SHARE_LEDGER_TIME, in a later statement of the same transaction (its own snapshot under READ COMMITTED).
WATERMARK = "SELECT closed_before FROM ledger_cutoff"


def dated(clock_now: datetime, closed_before: datetime | None) -> datetime:
    """A transaction's ledger time: its clock, never before the end of the latest closed period."""
    return clock_now if closed_before is None or clock_now >= closed_before else closed_before


def ledger_time(conn: Connection, clock: Callable[[], datetime]) -> datetime:
    """Take the ledger-time lock (shared, to the end of the caller's transaction) and return this transaction's
    ledger time. One round trip."""
    closed_before = conn.exec_driver_sql(SHARE_LEDGER_TIME + ";\n" + WATERMARK).scalar()
    return dated(clock(), closed_before)


def close_before(conn: Connection, end: datetime) -> None:
    """Cut off everything dated before `end`: wait for every ledger transaction in flight, then move the watermark
    (never backwards). Inside the caller's transaction; new ledger transactions wait until it ends."""
    conn.execute(text(f"SELECT pg_advisory_xact_lock({LEDGER_TIME_LOCK})"))
    conn.execute(text("UPDATE ledger_cutoff SET closed_before = greatest(coalesce(closed_before, :end), :end)"),
                 {"end": end})
