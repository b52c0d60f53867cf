"""Webhooks from the operator's side: `coalition webhooks worker` (the Temporal worker that delivers, and the
dispatcher that wakes it) and `coalition webhooks list | deliveries | replay | enable | disable`.

The worker serves the webhook task queue (COALITION_WEBHOOK_TASK_QUEUE) of the same Temporal as settlement
(TEMPORAL_ADDRESS, or the embedded dev server) with network.webhook_workflows and network.webhook_activities, and
runs network.webhook_dispatch.WebhookDispatcher next to it. Killed at any point (-9 included), nothing is lost:
the outbox and each endpoint's delivered_through are in PostgreSQL, a delivery in flight is retried by Temporal
once its start-to-close timeout passes (the same webhook-id: receivers dedupe), and the dispatcher's first sweep
after a restart wakes every endpoint that is behind.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker

from coalition.settings import CoalitionSettings, get_settings
from network import admin, metrics
from network.outage import wait_for_database
from network.runtime import configure_logging, database, operator_transaction
from network.signer import NetworkSigner
from network.store import webhooks as store
from network.webhook_activities import WebhookActivities
from network.webhook_dispatch import WebhookDispatcher
from network.webhook_workflows import WEBHOOK_WORKFLOWS, DeliverySchedule
from settlement.worker import connect_temporal, worker_interceptors

log = logging.getLogger(__name__)
ACTIVITY_THREADS = 8
webhooks_app = typer.Typer(help="Partners' webhook endpoints: the delivery worker, endpoints, deliveries, replays.",
                           no_args_is_help=True)
console = Console()
OPERATOR = typer.Option("cli", "--operator", help="Who is acting (recorded with the action).")


def delivery_schedule(settings: CoalitionSettings) -> DeliverySchedule:
    return DeliverySchedule(settings.webhook_retry_initial_seconds, settings.webhook_retry_backoff,
                            settings.webhook_retry_max_interval_seconds, settings.webhook_retry_horizon_seconds,
                            settings.webhook_timeout_seconds)


def build_webhook_worker(client: Client, engine: Engine, settings: CoalitionSettings, signer: NetworkSigner,
                         **worker_options) -> Worker:
    activities = WebhookActivities(engine, signer, timeout_seconds=settings.webhook_timeout_seconds)
    return Worker(client, task_queue=settings.webhook_task_queue, workflows=WEBHOOK_WORKFLOWS,
                  activities=activities.all(),
                  activity_executor=ThreadPoolExecutor(ACTIVITY_THREADS, thread_name_prefix="webhooks"),
                  max_concurrent_activities=ACTIVITY_THREADS,
                  interceptors=[*worker_interceptors(), *worker_options.pop("interceptors", ())], **worker_options)


async def run_webhook_worker(engine: Engine, settings: CoalitionSettings) -> None:
    """Until SIGINT/SIGTERM: the worker on the webhook task queue, and the dispatcher."""
    signer = NetworkSigner.from_file(settings.resolved_network_key_file())
    async with AsyncExitStack() as stack:
        client = await connect_temporal(stack, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        dispatcher = WebhookDispatcher(client, engine, delivery_schedule(settings), settings.webhook_task_queue,
                                       poll_seconds=settings.webhook_dispatch_poll_seconds)
        async with build_webhook_worker(client, engine, settings, signer):
            log.info("webhook worker on task queue %s", settings.webhook_task_queue)
            await dispatcher.run(stop)


@webhooks_app.command("worker")
def webhooks_worker(migrate: bool = typer.Option(False, help="Apply migrations first.")) -> None:
    """Run the webhook delivery worker and dispatcher (embedded Temporal dev server when TEMPORAL_ADDRESS is unset)."""
    settings = get_settings()
    configure_logging(settings)
    with database(settings, run_migrations=migrate) as engine:
        wait_for_database(engine)
        if settings.metrics_port:
            metrics.instrument_engine(engine)
            metrics.serve_http(settings.metrics_port, settings.metrics_address)
        asyncio.run(run_webhook_worker(engine, settings))


@webhooks_app.command("list")
def webhooks_list(partner_id: Optional[str] = typer.Option(None, "--partner", help="One partner's endpoints.")) -> None:
    """Every endpoint (or one partner's), with its state; a disabled endpoint shows why, and its alert."""
    with database() as engine, engine.connect() as conn:
        rows = store.endpoints(conn, partner_id)
    table = Table("endpoint", "partner", "url", "events", "state", "delivered through", "alert / reason")
    for e in rows:
        table.add_row(e.endpoint_id, e.partner_id, e.url, ", ".join(e.event_types) or "all",
                      "enabled" if e.enabled else "[red]disabled[/red]", str(e.delivered_through),
                      e.alert or e.disabled_reason or "")
    console.print(table)


@webhooks_app.command("deliveries")
def webhooks_deliveries(endpoint_id: Optional[str] = typer.Option(None, "--endpoint"),
                        partner_id: Optional[str] = typer.Option(None, "--partner"),
                        limit: int = typer.Option(50, min=1, max=1000)) -> None:
    """The delivery log, newest attempt first: status code or error, latency."""
    with database() as engine, engine.connect() as conn:
        rows = store.deliveries(conn, partner_id=partner_id, endpoint_id=endpoint_id, limit=limit)
    table = Table("at", "endpoint", "partner", "event", "attempt", "replay", "status", "error", "ms")
    for d in rows:
        table.add_row(d.attempted_at.isoformat(timespec="seconds"), d.endpoint_id, d.partner_id, str(d.seq),
                      str(d.attempt), "yes" if d.replay else "", str(d.status_code or ""), d.error or "",
                      str(d.latency_ms))
    console.print(table)


@webhooks_app.command("replay")
def webhooks_replay(endpoint_id: str, first: int = typer.Option(..., "--from", help="First event sequence."),
                    last: int = typer.Option(0, "--to", help="Last event sequence (default: --from only)."),
                    operator: str = OPERATOR) -> None:
    """Deliver an endpoint's events again (the worker's dispatcher starts it); recorded."""
    with operator_transaction() as conn:
        replay_id = admin.replay_webhook_events(conn, operator, endpoint_id, first, last)
    console.print(f"replay {replay_id} of events {first}..{last or first} to endpoint {endpoint_id} requested")


@webhooks_app.command("enable")
def webhooks_enable(endpoint_id: str, operator: str = OPERATOR) -> None:
    """Enable an endpoint (one the network disabled after failures): delivery resumes where it stopped; recorded."""
    with operator_transaction() as conn:
        admin.set_webhook_endpoint_state(conn, operator, endpoint_id, True)
    console.print(f"endpoint {endpoint_id} enabled")


@webhooks_app.command("disable")
def webhooks_disable(endpoint_id: str, reason: str = typer.Option("", help="Why (recorded, shown to the partner)."),
                     operator: str = OPERATOR) -> None:
    """Disable an endpoint: nothing more is sent to it until it is enabled; recorded."""
    with operator_transaction() as conn:
        admin.set_webhook_endpoint_state(conn, operator, endpoint_id, False, reason)
    console.print(f"endpoint {endpoint_id} disabled")


__all__ = ["build_webhook_worker", "delivery_schedule", "run_webhook_worker", "webhooks_app"]
