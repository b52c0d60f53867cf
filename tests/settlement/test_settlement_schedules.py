"""Schedules the worker creates, housekeeping workflows (idempotent, safe to run twice), cycle periods and ids."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from settlement import messages as m
from settlement.domain.cycles import cycle_id_for, period_ending
from settlement.rails import SimulatedBank
from settlement.worker import CYCLE_SCHEDULE_ID, ensure_schedules
from settlement.workflows import HousekeepingWorkflow


def test_cycle_ids_and_periods():
    assert cycle_id_for(datetime(2026, 11, 23, tzinfo=timezone.utc)) == "cyc-20261123-0000"
    assert cycle_id_for(datetime(2026, 11, 23, 9, 5, 30, tzinfo=timezone.utc)) == "cyc-20261123-090530"
    start, end = period_ending(datetime(2026, 11, 23, 10, 7, 42, tzinfo=timezone.utc), 300)
    assert (start.isoformat(), end.isoformat()) == ("2026-11-23T10:00:00+00:00", "2026-11-23T10:05:00+00:00")


def test_schedules_and_housekeeping_run_twice(temporal, settlement_settings, start_worker, tmp_path):
    start_worker(SimulatedBank(tmp_path / "bank"))
    created = temporal.run(ensure_schedules(temporal.client, settlement_settings))
    try:
        assert CYCLE_SCHEDULE_ID in created and len(created) == 4
        again = temporal.run(ensure_schedules(temporal.client, settlement_settings))  # idempotent: updates
        assert again == created
        description = temporal.run(temporal.client.get_schedule_handle(CYCLE_SCHEDULE_ID).describe())
        every = description.schedule.spec.intervals[0].every
        assert every.total_seconds() == settlement_settings.settlement_period_seconds
    finally:
        for schedule_id in created:
            temporal.run(temporal.client.get_schedule_handle(schedule_id).delete())
    for task in m.HOUSEKEEPING_TASKS:
        for _ in range(2):
            result = temporal.run(temporal.client.execute_workflow(
                HousekeepingWorkflow.run, m.HousekeepingInput(task), id=f"hk-{task}-{uuid.uuid4().hex[:6]}",
                task_queue=settlement_settings.temporal_task_queue))
            assert result.task == task and result.changed >= 0
