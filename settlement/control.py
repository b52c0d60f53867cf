"""Driving cycles from outside a workflow: start one by hand, tell it about responses, resolve disputes.

The database stays the source of truth; signals only wake the workflow early (it re-reads the database anyway).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import Engine
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from settlement.settings import SettlementSettings
from settlement import messages as m, responses, store
from settlement.domain.cycles import cycle_id_for
from settlement.workflows import SettlementCycleWorkflow

log = logging.getLogger(__name__)


def cycle_input(settings: SettlementSettings, start: datetime, end: datetime, **overrides) -> m.CycleInput:
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    return m.CycleInput(cycle_id_for(start), start.isoformat(), end.isoformat(),
                        dispute_window_seconds=settings.dispute_window_seconds, **overrides)


async def start_cycle(client: Client, settings: SettlementSettings, cycle: m.CycleInput) -> WorkflowHandle:
    """Start the cycle's workflow (id = cycle id: a completed cycle can never run again; a failed one can)."""
    return await client.start_workflow(SettlementCycleWorkflow.run, cycle, id=cycle.cycle_id,
                                       task_queue=settings.temporal_task_queue,
                                       id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)


async def signal_response(client: Client, cycle_id: str, partner_id: str, disputed: bool) -> None:
    """Tell a running cycle a partner answered; a lost signal is harmless (the workflow polls the database)."""
    handle = client.get_workflow_handle(cycle_id)
    signal = SettlementCycleWorkflow.statement_disputed if disputed else SettlementCycleWorkflow.statement_acknowledged
    try:
        await handle.signal(signal, partner_id)
    except RPCError as exc:
        log.warning("cycle %s: could not signal the response of %s: %s", cycle_id, partner_id, exc)


async def resolve_dispute(client: Client | None, engine: Engine, dispute_id: str, outcome: str, operator: str,
                          note: str = "") -> str:
    """Resolve through the running cycle's workflow (a signal) or, when it is not running, in the database."""
    with engine.connect() as conn:
        row = store.statements.dispute(conn, dispute_id)
    if row is not None and row.cycle_state != "closed" and client is not None:
        try:
            await client.get_workflow_handle(row.cycle_id).signal(
                SettlementCycleWorkflow.resolve_dispute, m.ResolveDispute(dispute_id, outcome, operator, note))
            return f"signalled cycle {row.cycle_id}"
        except RPCError as exc:
            log.info("cycle %s not running (%s): resolving in the database", row.cycle_id, exc)
    with engine.begin() as conn:
        cycle_id = responses.resolve_dispute(conn, dispute_id, outcome, operator, note)
    return f"resolved in cycle {cycle_id}"
