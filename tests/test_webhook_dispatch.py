"""The webhook dispatcher's signals, counted in the endpoint workflow's Temporal history (a real dev server; no
worker polls the task queue, so a started workflow stays running): a moved endpoint is signalled at once, an
unmoved one again only once its workflow is no longer running; a running one retrying for days gets no signal."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import EventType

from network.store import webhooks as store
from network.webhook_dispatch import WebhookDispatcher
from network.webhook_workflows import DeliverySchedule, endpoint_workflow_id
from settlement.temporal_runtime import start_dev_server


async def signals(client, endpoint_id: str, run_id: str | None = None) -> int:
    handle = client.get_workflow_handle(endpoint_workflow_id(endpoint_id), run_id=run_id)
    history = await handle.fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in history.events)


def test_a_running_workflow_is_not_signalled_again_until_its_endpoint_moves_or_it_ends(make_partner, engine):
    shop = make_partner("dispatch")
    with engine.begin() as conn:
        endpoint = store.create_endpoint(conn, shop.partner_id, "https://example.com/hooks", [], "whsec_" + "A" * 44)
    with shop.client() as network:
        network.earn(network.enroll_member().member.member_id, points=3)  # an event: the endpoint is behind

    async def scenario() -> None:
        env = await start_dev_server()
        try:
            client = env.client
            dispatcher = WebhookDispatcher(client, engine, DeliverySchedule(), f"nobody-{uuid.uuid4().hex[:8]}",
                                           resignal_seconds=0.0)  # every sweep is past the resignal interval
            await dispatcher.sweep()
            assert await signals(client, endpoint.endpoint_id) == 1  # signal-with-start
            for _ in range(3):  # nothing moved, and the workflow runs: it will read the outbox itself
                await dispatcher.sweep()
            assert await signals(client, endpoint.endpoint_id) == 1

            with engine.begin() as conn:  # the endpoint moved (edited): signalled at once, running or not
                store.update_endpoint(conn, endpoint.endpoint_id, url="https://example.com/other")
            await dispatcher.sweep()
            assert await signals(client, endpoint.endpoint_id) == 2

            handle = client.get_workflow_handle(endpoint_workflow_id(endpoint.endpoint_id))
            first_run = (await handle.describe()).run_id
            await handle.terminate("the test ends this run")  # gone: the next sweep must start another
            await dispatcher.sweep()
            second_run = (await client.get_workflow_handle(endpoint_workflow_id(endpoint.endpoint_id)).describe())
            assert second_run.run_id != first_run
            assert await signals(client, endpoint.endpoint_id, second_run.run_id) == 1
        finally:
            await env.shutdown()

    asyncio.run(scenario())
