"""The settlement worker: workflows and activities on the settlement task queue, and the schedules that start
cycles (every settlement_period_seconds) and housekeeping (every minute)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import (Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError,
                               ScheduleIntervalSpec, ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec,
                               ScheduleUpdate)
from temporalio.worker import Worker

from network.signer import NetworkSigner
from settlement.settings import SettlementSettings
from settlement import messages as m
from settlement.activities import SettlementActivities
from settlement.activity_guard import ActivityGuard
from settlement.payments import make_rail
from settlement.rails import PaymentRail
from settlement.temporal_runtime import temporal_client
from settlement.workflows import WORKFLOWS, CycleStarterWorkflow, HousekeepingWorkflow

log = logging.getLogger(__name__)
CYCLE_SCHEDULE_ID = "coalition-settlement-cycles"
HOUSEKEEPING_EVERY = timedelta(minutes=1)
TIER_REVIEW_SCHEDULE_ID = "coalition-tier-review"
ACTIVITY_THREADS = 8
RETRY_MAX_SECONDS = 5.0  # a worker waiting for PostgreSQL or Temporal tries again at least this often


def build_worker(client: Client, engine: Engine, settings: SettlementSettings, *, rail: PaymentRail | None = None,
                 signer: NetworkSigner | None = None, **worker_options) -> Worker:
    """A worker for the settlement task queue; the caller runs it (`await worker.run()`) and shuts it down."""
    activities = SettlementActivities(engine, settings, rail or make_rail(settings),
                                      signer or NetworkSigner.from_file(settings.resolved_network_key_file()))
    worker_options["interceptors"] = [*worker_interceptors(), *worker_options.get("interceptors", ())]
    return Worker(client, task_queue=settings.temporal_task_queue, workflows=WORKFLOWS, activities=activities.all(),
                  activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="settlement"),
                  max_concurrent_activities=ACTIVITY_THREADS, **worker_options)


def worker_interceptors() -> list:
    """Every settlement worker's interceptors: activities heartbeat and fail with short messages."""
    return [ActivityGuard()]


async def connect_temporal(stack: AsyncExitStack, settings: SettlementSettings) -> Client:
    """A Temporal client entered on `stack`. While Temporal does not answer, say so once and try again (backing
    off to RETRY_MAX_SECONDS) instead of exiting."""
    delay, waiting_since = 0.5, None
    while True:
        try:
            client = await stack.enter_async_context(temporal_client(settings))
        except RuntimeError as exc:  # Client.connect: "Failed client connect: ..."
            if waiting_since is None:
                waiting_since = time.monotonic()
                log.warning("waiting for Temporal at %s (%s); retrying until it answers",
                            settings.resolved_temporal_address(), str(exc).splitlines()[0][:200])
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        if waiting_since is not None:
            log.info("Temporal answers again after %.1f s", time.monotonic() - waiting_since)
        return client


def schedules(settings: SettlementSettings) -> dict[str, Schedule]:
    """Schedule id -> schedule: cycles per settlement period, each housekeeping task every minute."""
    skip = SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP)
    every_period = ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.settlement_period_seconds))])
    found = {CYCLE_SCHEDULE_ID: Schedule(
        action=ScheduleActionStartWorkflow(
            CycleStarterWorkflow.run, m.StartNextCycle(settings.settlement_period_seconds, settings.dispute_window_seconds),
            id="coalition-cycle-starter", task_queue=settings.temporal_task_queue),
        spec=every_period, policy=skip)}
    for task in m.HOUSEKEEPING_TASKS:
        found[f"coalition-housekeeping-{task}"] = Schedule(
            action=ScheduleActionStartWorkflow(HousekeepingWorkflow.run, m.HousekeepingInput(task),
                                               id=f"coalition-housekeeping-{task}",
                                               task_queue=settings.temporal_task_queue),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=HOUSEKEEPING_EVERY)]), policy=skip)
    found[TIER_REVIEW_SCHEDULE_ID] = Schedule(
        action=ScheduleActionStartWorkflow(HousekeepingWorkflow.run, m.HousekeepingInput(m.TIER_REVIEW_TASK),
                                           id=TIER_REVIEW_SCHEDULE_ID, task_queue=settings.temporal_task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=settings.tier_review_seconds))]),
        policy=skip)
    return found


async def ensure_schedules(client: Client, settings: SettlementSettings) -> list[str]:
    """Create the schedules, or bring existing ones to the current settings."""
    for schedule_id, schedule in schedules(settings).items():
        try:
            await client.create_schedule(schedule_id, schedule)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).update(lambda _input, s=schedule: ScheduleUpdate(schedule=s))
    return list(schedules(settings))


async def run_worker(engine: Engine, settings: SettlementSettings, *, create_schedules: bool = True) -> None:
    """Run until SIGINT/SIGTERM: connect to (or start) Temporal, create the schedules, serve the task queue."""
    async with AsyncExitStack() as stack:
        client = await connect_temporal(stack, settings)
        if create_schedules:
            created = await ensure_schedules(client, settings)
            log.info("schedules: %s", ", ".join(created))
        worker = build_worker(client, engine, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            log.info("settlement worker on task queue %s", settings.temporal_task_queue)
            await stop.wait()
