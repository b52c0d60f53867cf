"""Housekeeping of the members' security records: deleted once `member_records_retention_days` old.

What the login and spending checks count covers minutes to a day (login rate limits over member_login_window_seconds,
the wrong-PIN flag over network.core.transfers.AnomalyThresholds.failed_pin_window) and the console's anomaly flags
look back a week (AnomalyThresholds.lookback); kept longer than that, these rows only grow and hold personal
traces (when a member tried to sign in, from which till a PIN was wrong) for no purpose. Each table is deleted by
the time that decides its age, through an index on it (migration 0017), in batches of one transaction each. A row
exactly at the cut-off stays; an older one goes. Closing an account deletes its own records at once
(network.store.accounts)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, text

# (table, the column whose age decides): when it happened, or when it stopped being usable
RECORDS = (("login_events", "at"), ("verification_failures", "failed_at"), ("login_codes", "expires_at"),
           ("member_sessions", "expires_at"), ("redemption_codes", "expires_at"))
BATCH = 10_000


def cutoff(now: datetime, retention_days: int) -> datetime:
    """Rows whose deciding time is before this go."""
    return now - timedelta(days=retention_days)


def purge_member_records(engine: Engine, retention_days: int, now: datetime, batch: int = BATCH) -> dict[str, int]:
    """Delete the records past the retention window; how many went, by table."""
    before = cutoff(now, retention_days)
    deleted = {}
    for table, column in RECORDS:
        deleted[table] = 0
        while True:
            with engine.begin() as conn:
                count = conn.execute(text(
                    f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} WHERE {column} < :before "
                    "LIMIT :batch)"), {"before": before, "batch": batch}).rowcount
            deleted[table] += count
            if count < batch:
                break
    return deleted


__all__ = ["BATCH", "RECORDS", "cutoff", "purge_member_records"]
