"""Schedules the worker creates, housekeeping workflows (idempotent, safe to run twice), cycle periods and ids."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from settlement import cycles, messages as m
from settlement.domain.cycles import CycleOverlaps, cycle_id_for, period_ending
from settlement.rails import SimulatedBank
from settlement.worker import CYCLE_SCHEDULE_ID, TIER_REVIEW_SCHEDULE_ID, ensure_schedules
from settlement.workflows import HousekeepingWorkflow


def test_cycle_ids_and_periods():
    assert cycle_id_for(datetime(2026, 11, 23, tzinfo=timezone.utc)) == "cyc-20261123-0000"
    assert cycle_id_for(datetime(2026, 11, 23, 9, 5, 30, tzinfo=timezone.utc)) == "cyc-20261123-090530"
    assert cycle_id_for(datetime(2026, 11, 23, 9, 5, 30, 250000, tzinfo=timezone.utc)) == "cyc-20261123-090530.250000"
    assert cycle_id_for(datetime(2026, 11, 23, 9, 5, 0, 7, tzinfo=timezone.utc)) == "cyc-20261123-090500.000007"
    start, end = period_ending(datetime(2026, 11, 23, 10, 7, 42, tzinfo=timezone.utc), 300)
    assert (start.isoformat(), end.isoformat()) == ("2026-11-23T10:00:00+00:00", "2026-11-23T10:05:00+00:00")


@given(st.datetimes(max_value=datetime(9000, 1, 1), timezones=st.just(timezone.utc)),
       st.integers(min_value=1, max_value=10**8))
def test_distinct_period_starts_have_distinct_cycle_ids(start, later_by_microseconds):
    later = start + timedelta(microseconds=later_by_microseconds)
    assert cycle_id_for(start) != cycle_id_for(later)


def test_periods_starting_in_the_same_second_are_two_cycles(engine):
    """A bug found in review: a period starting in the same second as the previous one could not run (same cycle id)."""
    first = datetime(2101, 1, 1, 10, 0, 0, 200000, tzinfo=timezone.utc)  # after every cycle the tests commit
    second, end = first + timedelta(milliseconds=300), first + timedelta(milliseconds=700)
    with engine.connect() as conn, conn.begin() as transaction:
        try:
            opened = [cycles.open_cycle(conn, cycle_id_for(s), s, e, cycle_id_for(s), "EUR")
                      for s, e in ((first, second), (second, end))]
            assert opened[0].cycle_id != opened[1].cycle_id
            assert [(c.period_start, c.period_end) for c in opened] == [(first, second), (second, end)]
            with pytest.raises(CycleOverlaps, match="exists for"):  # one id, one period
                cycles.open_cycle(conn, opened[1].cycle_id, second, end + timedelta(seconds=1), "w", "EUR")
        finally:
            transaction.rollback()


def test_schedules_and_housekeeping_run_twice(temporal, settlement_settings, start_worker, tmp_path):
    start_worker(SimulatedBank(tmp_path / "bank"))
    created = temporal.run(ensure_schedules(temporal.client, settlement_settings))
    try:
        assert CYCLE_SCHEDULE_ID in created and len(created) == 2 + len(m.HOUSEKEEPING_TASKS)
        review = temporal.run(temporal.client.get_schedule_handle(TIER_REVIEW_SCHEDULE_ID).describe())
        assert review.schedule.spec.intervals[0].every.total_seconds() == settlement_settings.tier_review_seconds
        again = temporal.run(ensure_schedules(temporal.client, settlement_settings))  # idempotent: updates
        assert again == created
        description = temporal.run(temporal.client.get_schedule_handle(CYCLE_SCHEDULE_ID).describe())
        every = description.schedule.spec.intervals[0].every
        assert every.total_seconds() == settlement_settings.settlement_period_seconds
    finally:
        for schedule_id in created:
            temporal.run(temporal.client.get_schedule_handle(schedule_id).delete())
    for task in (*m.HOUSEKEEPING_TASKS, m.TIER_REVIEW_TASK):
        for _ in range(2):
            result = temporal.run(temporal.client.execute_workflow(
                HousekeepingWorkflow.run, m.HousekeepingInput(task), id=f"hk-{task}-{uuid.uuid4().hex[:6]}",
                task_queue=settlement_settings.temporal_task_queue))
            assert result.task == task and result.changed >= 0
