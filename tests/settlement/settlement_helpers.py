"""Helpers for settlement tests: ledger traffic, cycle periods that never overlap, waiting for database states."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import Engine, text

from network.core.results import EarnItem, SpendRefs


def period_start(engine: Engine) -> datetime:
    """Now, or the end of the latest cycle if that is later: a new cycle never overlaps an earlier one."""
    with engine.connect() as conn:
        last = conn.execute(text("SELECT max(period_end) FROM cycles")).scalar_one()
    now = datetime.now(timezone.utc)
    return max(now, last + timedelta(microseconds=1)) if last else now


def wait_for(predicate: Callable[[], object], timeout: float = 60, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cycle_state(engine: Engine, cycle_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT state FROM cycles WHERE cycle_id = :c"), {"c": cycle_id}).scalar_one_or_none()


def enroll(engine, ledger, partner_id: str) -> str:
    with engine.begin() as conn:
        member, _ = ledger.enroll_member(conn, partner_id, f"c-{uuid.uuid4().hex[:10]}", "")
    return member.member_id


def earn(engine, ledger, partner_id: str, member_id: str, points: int) -> str:
    with engine.begin() as conn:
        [result] = ledger.earn_batch(conn, [(partner_id, EarnItem(uuid.uuid4().hex, member_id, None, None, points))])
    return result.transaction_id


def redeem(engine, ledger, partner_id: str, member_id: str, points: int) -> str:
    with engine.begin() as conn:
        return ledger.redeem(conn, partner_id, member_id, points, SpendRefs(), uuid.uuid4().hex).transaction_id
