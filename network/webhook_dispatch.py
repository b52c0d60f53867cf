"""The webhook dispatcher: starts (or wakes) each endpoint's delivery workflow when its partner has new events.

It never delivers anything itself and keeps nothing it cannot lose: what is to be delivered is the outbox after
each endpoint's delivered_through (both in PostgreSQL), and each endpoint's workflow has a fixed id
(`webhook-endpoint-<endpoint id>`), started with signal-with-start, so a dispatcher that runs twice, or again after
being killed, wakes the one workflow instead of starting a second. A sweep (every endpoint enabled and behind its
partner's last event) runs when the dispatcher starts, whenever a transaction NOTIFYs the outbox's channel, and
at least every poll interval. An endpoint is signalled again only when its delivery moved (delivered_through) or
the endpoint changed (re-enabled, edited) since it was last signalled; otherwise, a minute after that, only when its
workflow is no longer running (Temporal's describe): a running workflow reads the outbox again after each batch
anyway, so a signal only matters to one about to end (or gone). A workflow retrying one event for three days gets
no signal while it retries, not one a minute (each signal is four events in its history: some 17,000 over three
days, where Temporal warns from 10,240).

Replays asked for (webhook_replays, by a partner's ReplayWebhookEvents, `coalition webhooks replay` or the console)
are started by the same sweep, as workflow `webhook-replay-<replay id>`, then marked started: a dispatcher killed
between the two starts it again next time, and Temporal refuses the duplicate id.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from network.store import webhooks as store
from network.store.events import EVENTS_CHANNEL
from network.store.notify import ChannelListener
from network.webhook_workflows import (DeliverySchedule, EndpointJob, ReplayJob, WebhookEndpointWorkflow,
                                       WebhookReplayWorkflow, endpoint_workflow_id)

log = logging.getLogger(__name__)


async def wake_endpoint(client: Client, endpoint_id: str, schedule: DeliverySchedule, task_queue: str) -> None:
    """Signal the endpoint's workflow, starting it when none runs (signal-with-start on its fixed id)."""
    await client.start_workflow(WebhookEndpointWorkflow.run, EndpointJob(endpoint_id, schedule),
                                id=endpoint_workflow_id(endpoint_id), task_queue=task_queue, start_signal="wake")


class WebhookDispatcher:
    def __init__(self, client: Client, engine: Engine, schedule: DeliverySchedule, task_queue: str, *,
                 poll_seconds: float = 10.0, resignal_seconds: float = 60.0):
        self._client = client
        self._engine = engine
        self._schedule = schedule
        self._task_queue = task_queue
        self._poll_seconds = poll_seconds
        self._resignal_seconds = resignal_seconds
        self._signalled: dict[str, tuple[tuple[int, datetime], float]] = {}  # endpoint -> (mark, when signalled)

    def _read(self) -> tuple[list[store.Behind], list[store.Replay]]:
        with self._engine.connect() as conn:
            return store.behind(conn), store.unstarted_replays(conn)

    def _started(self, replay_id: str) -> None:
        with self._engine.begin() as conn:
            store.mark_replay_started(conn, replay_id)

    async def sweep(self) -> int:
        """Wake every endpoint behind its partner's events that moved since it was last woken, and start the
        replays asked for; how many workflows were signalled or started."""
        loop = asyncio.get_running_loop()
        behind, replays = await loop.run_in_executor(None, self._read)
        woken = 0
        now = loop.time()
        for row in behind:
            mark = (row.delivered_through, row.updated_at)
            last = self._signalled.get(row.endpoint_id)
            if last is not None and last[0] == mark:
                if now - last[1] < self._resignal_seconds:
                    continue
                if await self._running(row.endpoint_id):  # it reads the outbox again by itself
                    self._signalled[row.endpoint_id] = (mark, now)
                    continue
            await wake_endpoint(self._client, row.endpoint_id, self._schedule, self._task_queue)
            self._signalled[row.endpoint_id] = (mark, now)
            woken += 1
        for replay in replays:
            try:  # the replay's id is its workflow's: started at most once, even by two dispatchers
                await self._client.start_workflow(
                    WebhookReplayWorkflow.run, ReplayJob(replay.endpoint_id, replay.sequences, self._schedule),
                    id=f"webhook-replay-{replay.replay_id}", task_queue=self._task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
            except WorkflowAlreadyStartedError:
                pass
            await loop.run_in_executor(None, self._started, replay.replay_id)
            woken += 1
        return woken

    async def _running(self, endpoint_id: str) -> bool:
        """Whether the endpoint's workflow is running now (False when there is none, or it could not be told)."""
        try:
            described = await self._client.get_workflow_handle(endpoint_workflow_id(endpoint_id)).describe()
        except RPCError:  # none was ever started (NOT_FOUND), or Temporal did not answer: signal-with-start then
            return False
        return described.status == WorkflowExecutionStatus.RUNNING

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep on start, on every NOTIFY of the outbox and every poll interval, until `stop` is set."""
        loop = asyncio.get_running_loop()
        nudged = asyncio.Event()

        def nudge() -> None:
            loop.call_soon_threadsafe(nudged.set)
        listener = ChannelListener(self._engine, EVENTS_CHANNEL, nudge, notified=lambda _payloads: nudge(),
                                   name="webhook-dispatcher", what_meanwhile="the dispatcher polls")
        try:
            while not stop.is_set():
                nudged.clear()
                try:
                    await self.sweep()
                except Exception as exc:  # noqa: BLE001 - the next sweep tries again; the outbox keeps everything
                    log.warning("webhook dispatcher sweep failed (%s); trying again", str(exc).splitlines()[0][:200])
                waiters = [asyncio.ensure_future(nudged.wait()), asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waiters, timeout=self._poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            listener.close()


__all__ = ["WebhookDispatcher", "wake_endpoint"]
