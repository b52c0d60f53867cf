"""Settlement commands: `settle_app` (coalition settle run/status/resolve) and `worker_app` (coalition settlement
worker). Wired into coalition.cli by `app.add_typer(settle_app, name="settle")` and
`app.add_typer(worker_app, name="settlement")`."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from temporalio.exceptions import WorkflowAlreadyStartedError

from network import metrics
from network.outage import wait_for_database
from network.runtime import configure_logging, database, refusals_exit
from settlement.settings import get_settings
from settlement.store import cycles
from settlement.control import cycle_input, resolve_dispute, start_cycle
from settlement.temporal_runtime import temporal_client
from settlement.worker import run_worker

settle_app = typer.Typer(help="Settlement cycles: start one by hand, see them, resolve disputes.", no_args_is_help=True)
worker_app = typer.Typer(help="The settlement worker (Temporal).", no_args_is_help=True)
console = Console()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


@settle_app.command("run")
def settle_run(start: datetime = typer.Option(..., "--start", help="Period start, ISO 8601 (UTC when no offset)."),
               end: datetime = typer.Option(..., "--end", help="Period end (exclusive), ISO 8601."),
               dispute_window_seconds: Optional[int] = typer.Option(None, help="Default: COALITION_DISPUTE_WINDOW_SECONDS."),
               wait: bool = typer.Option(False, help="Wait for the cycle to close.")) -> None:
    """Start the cycle of [start, end) (workflow id = cycle id: a cycle never runs twice). A worker runs it."""
    settings = get_settings()
    cycle = cycle_input(settings, _utc(start), _utc(end))
    if dispute_window_seconds is not None:
        cycle.dispute_window_seconds = dispute_window_seconds

    async def run() -> None:
        async with temporal_client(settings) as client:
            handle = await start_cycle(client, settings, cycle)
            console.print(f"cycle {cycle.cycle_id} started ([{cycle.period_start}, {cycle.period_end}))")
            if wait:
                outcome = await handle.result()
                console.print(f"cycle {outcome.cycle_id} {outcome.state}: {outcome.instructions} payment instructions")
    try:
        asyncio.run(run())
    except WorkflowAlreadyStartedError:
        console.print(f"[red]cycle {cycle.cycle_id} has already run or is running[/red]")
        raise typer.Exit(2)


@settle_app.command("status")
def settle_status(limit: int = typer.Option(20, help="How many cycles, newest first."),
                  cycle_id: Optional[str] = typer.Option(None, "--cycle", help="Show one cycle's events.")) -> None:
    """Settlement cycles from the database (the source of truth), or one cycle's event history."""
    with database() as engine, engine.connect() as conn:
        if cycle_id:
            table = Table("at", "event", "state", "detail")
            for at, kind, state, detail in cycles.cycle_events(conn, cycle_id):
                table.add_row(at.isoformat(timespec="seconds"), kind, state or "", str(detail))
            console.print(table)
            return
        rows = cycles.list_cycles(conn, limit)
    table = Table("cycle", "period (UTC)", "state", "lines", "network revenue", "conserved", "statements (ack/disp)",
                  "payments (settled)", "alert")
    for c in rows:
        table.add_row(c.cycle_id, f"{c.period_start:%Y-%m-%d %H:%M:%S} .. {c.period_end:%Y-%m-%d %H:%M:%S}", c.state,
                      str(c.obligation_lines), f"{c.network_revenue_minor:,}",
                      {True: "[green]yes[/green]", False: "[red]NO[/red]", None: ""}[c.conserved],
                      f"{c.statements} ({c.acknowledged}/{c.disputed})", f"{c.instructions} ({c.settled})",
                      c.alert or "")
    console.print(table)


@settle_app.command("resolve")
def settle_resolve(dispute_id: str,
                   outcome: str = typer.Option(..., help="statement_stands or partner_upheld"),
                   note: str = typer.Option("", help="Why (recorded)."),
                   operator: str = typer.Option("cli", "--operator", help="Who is acting (recorded).")) -> None:
    """Decide a dispute: through its running cycle (a signal) or in the database when the cycle has closed."""
    settings = get_settings()

    async def run(engine) -> str:
        async with temporal_client(settings) as client:
            return await resolve_dispute(client, engine, dispute_id, outcome, operator, note)
    with database(settings) as engine, refusals_exit():
        console.print(asyncio.run(run(engine)))


@worker_app.command("worker")
def settlement_worker(schedules: bool = typer.Option(True, help="Create/update the cycle and housekeeping schedules."),
                      migrate: bool = typer.Option(False, help="Apply migrations first.")) -> None:
    """Run the settlement worker (starts an embedded Temporal dev server when TEMPORAL_ADDRESS is unset)."""
    settings = get_settings()
    configure_logging(settings)
    with database(settings, run_migrations=migrate) as engine:
        wait_for_database(engine)  # a worker started before PostgreSQL waits for it
        if settings.metrics_port:
            metrics.instrument_engine(engine)
            metrics.serve_http(settings.metrics_port, settings.metrics_address)
        asyncio.run(run_worker(engine, settings, create_schedules=schedules))
