"""Settlement activities under the worker's ActivityGuard: a long activity heartbeats (so the workflows' short
heartbeat timeout retries a lost completion within seconds without cutting off a slow one), a database failure
reaches the workflow as a short message, and every activity a cycle schedules carries the heartbeat timeout."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import psycopg2
from sqlalchemy.exc import OperationalError
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from settlement import control
from settlement.worker import worker_interceptors
from settlement.workflows import ACTIVITY_HEARTBEAT_TIMEOUT
from settlement_helpers import cycle_state, period_start, wait_for

DRIVER_MESSAGE = ('connection to server on socket "/tmp/pg/.s.PGSQL.5432" failed: Connection refused\n'
                  '\tIs the server running locally and accepting connections on that socket?')


@activity.defn
def slow_step(seconds: float) -> int:
    time.sleep(seconds)
    return activity.info().attempt


@activity.defn
def database_step(size: int) -> None:
    raise OperationalError("SELECT " + "x" * size, {"ids": ["y" * 64] * (size // 64)},
                           psycopg2.OperationalError(DRIVER_MESSAGE))


@workflow.defn
class GuardProbeWorkflow:
    @workflow.run
    async def run(self, kind: str) -> str:
        once = RetryPolicy(maximum_attempts=1)
        if kind == "slow":  # runs 4 s under a 1 s heartbeat timeout: only heartbeats keep it alive
            attempt = await workflow.execute_activity(slow_step, 4.0, start_to_close_timeout=timedelta(seconds=60),
                                                      heartbeat_timeout=timedelta(seconds=1), retry_policy=once)
            return f"attempt {attempt}"
        try:
            await workflow.execute_activity(database_step, 2_000_000, start_to_close_timeout=timedelta(seconds=60),
                                            retry_policy=once)
        except ActivityError as exc:
            return f"{exc.cause.type}|{exc.cause.message}"
        return "no failure"


def _run_probe(temporal, kind: str) -> str:
    queue = f"guard-{uuid.uuid4().hex[:8]}"

    async def run() -> str:
        worker = Worker(temporal.client, task_queue=queue, workflows=[GuardProbeWorkflow],
                        activities=[slow_step, database_step], activity_executor=ThreadPoolExecutor(2),
                        workflow_runner=UnsandboxedWorkflowRunner(), interceptors=worker_interceptors())
        async with worker:
            return await temporal.client.execute_workflow(GuardProbeWorkflow.run, kind, id=f"{queue}-{kind}",
                                                          task_queue=queue)
    return temporal.run(run())


def test_a_long_activity_heartbeats_through_a_short_heartbeat_timeout(temporal):
    assert _run_probe(temporal, "slow") == "attempt 1"


def test_a_database_failure_reaches_the_workflow_as_a_short_message(temporal):
    assert _run_probe(temporal, "database") == (
        "OperationalError|database unavailable: OperationalError: connection to server on socket "
        '"/tmp/pg/.s.PGSQL.5432" failed: Connection refused')


def test_every_activity_of_a_cycle_has_the_heartbeat_timeout(engine, settlement_settings, start_worker, temporal,
                                                             tmp_path):
    from settlement.rails import SimulatedBank

    start_worker(SimulatedBank(tmp_path / "bank"))
    start = period_start(engine)
    cycle = control.cycle_input(settlement_settings, start, datetime.now(timezone.utc) + timedelta(milliseconds=200),
                                cutoff_grace_seconds=0, response_poll_seconds=1, confirmation_poll_seconds=1)
    cycle.dispute_window_seconds = 1
    handle = temporal.run(control.start_cycle(temporal.client, settlement_settings, cycle))
    temporal.run(handle.result(), timeout=90)
    wait_for(lambda: cycle_state(engine, cycle.cycle_id) == "closed", 30, "the cycle to close")

    async def scheduled() -> list:
        return [event.activity_task_scheduled_event_attributes async for event in handle.fetch_history_events()
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    activities = temporal.run(scheduled())
    assert len(activities) >= 5
    assert {(a.activity_type.name, a.heartbeat_timeout.ToTimedelta()) for a in activities} == \
        {(a.activity_type.name, ACTIVITY_HEARTBEAT_TIMEOUT) for a in activities}
    assert ACTIVITY_HEARTBEAT_TIMEOUT <= timedelta(seconds=10)
