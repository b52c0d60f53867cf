"""Settlement workflows (deterministic: no I/O, no database code). Activities are called by reference to the
methods of settlement.activities.SettlementActivities, imported passed through the sandbox as in Temporal's
samples: the workflows only read their names and types.

SettlementCycleWorkflow, one per cycle, workflow id = cycle id:
  wait for the period's end -> cut-off (exact by commit order: it waits for the ledger transactions in flight) ->
  clear -> net -> statements -> wait for every partner's acknowledgement or dispute until the dispute window closes
  (signals, a durable timer, and a periodic re-read of the database so a lost signal is recovered) ->
  close the window -> plan payments (disputed amounts held back and carried) -> submit to the payment rail ->
  poll confirmations (an operator alert when they take longer than the timeout, or a payment fails) -> close.
The database is the source of truth; every step is an idempotent activity keyed by the cycle.

CycleStarterWorkflow: what the settlement schedule starts each period; starts the next cycle's workflow.
HousekeepingWorkflow: what the housekeeping schedules start (activate lots, expire lots, expire holds, purge
idempotency keys older than the retention window).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from settlement import messages as m
    from settlement.activities import SettlementActivities
    from settlement.domain.netting import NettingSummary

ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                             maximum_interval=timedelta(seconds=30),
                             non_retryable_error_types=["CycleOverlaps", "MissingContract", "DomainError"])
ALERT_STATE = "operator_alert"
# Every activity heartbeats (settlement.activity_guard, every 2 s): an attempt whose heartbeats stop (its completion
# lost in a Temporal restart, its worker killed) is retried after this long, not after its start-to-close timeout.
ACTIVITY_HEARTBEAT_TIMEOUT = timedelta(seconds=10)


@workflow.defn
class SettlementCycleWorkflow:
    def __init__(self) -> None:
        self._cycle_id = ""
        self._state = "starting"
        self._timeout = timedelta(seconds=120)
        self._awaited: set[str] = set()
        self._responded: set[str] = set()
        self._disputes = 0
        self._resolutions: list[m.ResolveDispute] = []
        self._instruction_ids: list[str] = []
        self._pending_confirmations = 0
        self._alert = ""
        self._operator_close = ""
        self._deadline = ""

    # --- signals and queries ---------------------------------------------------------------------------------

    @workflow.signal
    def statement_acknowledged(self, partner_id: str) -> None:
        self._responded.add(partner_id)

    @workflow.signal
    def statement_disputed(self, partner_id: str) -> None:
        if partner_id not in self._responded:
            self._disputes += 1
        self._responded.add(partner_id)

    @workflow.signal
    def resolve_dispute(self, resolution: m.ResolveDispute) -> None:
        self._resolutions.append(resolution)

    @workflow.signal
    def operator_close(self, note: str) -> None:
        """The operator closes a cycle stuck in operator_alert (payments handled outside the workflow)."""
        self._operator_close = note or "closed by the operator"

    @workflow.query
    def status(self) -> m.CycleStatus:
        return m.CycleStatus(self._cycle_id, self._state, sorted(self._awaited), sorted(self._responded),
                             self._disputes, list(self._instruction_ids), self._pending_confirmations, self._alert,
                             self._deadline)

    # --- the cycle -------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, cycle: m.CycleInput) -> m.CycleOutcome:
        self._cycle_id = cycle.cycle_id
        self._timeout = timedelta(seconds=cycle.activity_timeout_seconds)
        ref = m.CycleRef(cycle.cycle_id)
        await self._call(SettlementActivities.open_cycle, m.OpenCycle(cycle.cycle_id, cycle.period_start,
                                                                      cycle.period_end, workflow.info().workflow_id))
        await self._wait_for_period_end(cycle)
        await self._call(SettlementActivities.cut_off, ref)
        self._state = "cut_off"
        await self._call(SettlementActivities.clear_cycle, ref)
        self._state = "cleared"
        netting = await self._call(SettlementActivities.net_cycle, ref)
        self._state = "netted"
        if not netting.conserved:
            await self._raise_alert(f"conservation check failed: residual {netting.residual_minor} minor units")
            await workflow.wait_condition(lambda: bool(self._operator_close))
            return await self._close(cycle, netting, self._operator_close)
        await self._collect_responses(cycle)
        await self._call(SettlementActivities.close_dispute_window, ref)
        self._state = "paying"
        await self._apply_resolutions()
        plan = await self._call(SettlementActivities.plan_payments, ref)
        self._instruction_ids = plan.instruction_ids
        self._state = "payments_planned"
        note = await self._pay(cycle) if plan.instruction_ids else ""
        return await self._close(cycle, netting, note)

    async def _wait_for_period_end(self, cycle: m.CycleInput) -> None:
        due = datetime.fromisoformat(cycle.period_end) + timedelta(seconds=cycle.cutoff_grace_seconds)
        if due > workflow.now():
            self._state = "waiting_for_period_end"
            await asyncio.sleep((due - workflow.now()).total_seconds())

    async def _collect_responses(self, cycle: m.CycleInput) -> None:
        """Statements out, then wait until every partner answered or the dispute window closes."""
        deadline = workflow.now() + timedelta(seconds=cycle.dispute_window_seconds)
        self._deadline = deadline.isoformat()
        issued = await self._call(SettlementActivities.issue_statements,
                                  m.IssueStatements(cycle.cycle_id, deadline.isoformat()))
        self._awaited = set(issued.awaited) | set(issued.responded)
        self._responded |= set(issued.responded)
        self._state = "awaiting_responses"
        poll = timedelta(seconds=max(1, cycle.response_poll_seconds))
        while self._awaited - self._responded and workflow.now() < deadline:
            try:
                await workflow.wait_condition(lambda: not (self._awaited - self._responded) or bool(self._resolutions),
                                              timeout=min(poll, deadline - workflow.now()))
            except asyncio.TimeoutError:
                seen = await self._call(SettlementActivities.statement_responses, m.CycleRef(cycle.cycle_id))
                self._responded |= set(seen.responded)
                self._disputes = max(self._disputes, len(seen.disputed))
            await self._apply_resolutions()

    async def _apply_resolutions(self) -> None:
        while self._resolutions:
            await self._call(SettlementActivities.resolve_dispute, self._resolutions.pop(0))

    async def _pay(self, cycle: m.CycleInput) -> str:
        """Submit the planned instructions and wait for every confirmation; returns a closing note."""
        ref = m.CycleRef(cycle.cycle_id)
        submitted = await self._call(SettlementActivities.submit_payments, ref)
        self._state = "payments_submitted"
        await self._record_state(cycle.cycle_id, "awaiting_confirmations")
        started = workflow.now()
        poll = timedelta(seconds=max(1, cycle.confirmation_poll_seconds))
        timeout = timedelta(seconds=cycle.confirmation_timeout_seconds)
        problems = list(submitted.failed)
        while True:
            await self._apply_resolutions()
            tally = await self._call(SettlementActivities.record_confirmations, ref)
            self._pending_confirmations = tally.pending
            problems = sorted(set(problems) | set(tally.problems))
            if tally.pending == 0 and not problems:
                if self._state == ALERT_STATE:
                    await self._record_state(cycle.cycle_id, "awaiting_confirmations")
                return ""
            if problems and self._state != ALERT_STATE:
                await self._raise_alert("payments failed: " + "; ".join(problems))
            elif tally.pending and workflow.now() - started >= timeout and self._state != ALERT_STATE:
                await self._raise_alert(f"{tally.pending} payment confirmations outstanding after {timeout}")
            if tally.pending == 0 and problems:
                await workflow.wait_condition(lambda: bool(self._operator_close))
            else:
                try:
                    await workflow.wait_condition(lambda: bool(self._operator_close), timeout=poll)
                except asyncio.TimeoutError:
                    pass
            if self._operator_close:
                return self._operator_close

    async def _raise_alert(self, alert: str) -> None:
        self._alert = alert
        await self._record_state(self._cycle_id, ALERT_STATE, alert)

    async def _record_state(self, cycle_id: str, state: str, alert: str = "") -> None:
        await self._call(SettlementActivities.record_cycle_state, m.RecordCycleState(cycle_id, state, alert))
        self._state = state

    async def _close(self, cycle: m.CycleInput, netting: NettingSummary, note: str) -> m.CycleOutcome:
        await self._call(SettlementActivities.close_cycle, m.RecordCycleState(cycle.cycle_id, "closed", note=note))
        self._state = "closed"
        return m.CycleOutcome(cycle.cycle_id, "closed", netting.network_revenue_minor, len(self._instruction_ids), note)

    async def _call(self, activity, arg):
        return await workflow.execute_activity_method(activity, arg, start_to_close_timeout=self._timeout,
                                                      heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                                                      retry_policy=ACTIVITY_RETRY)


@workflow.defn
class CycleStarterWorkflow:
    """Started by the settlement schedule: plan the period just ended and start its cycle workflow."""

    @workflow.run
    async def run(self, request: m.StartNextCycle) -> str:
        planned = await workflow.execute_activity_method(SettlementActivities.plan_next_cycle, request,
                                                         start_to_close_timeout=timedelta(seconds=60),
                                                         heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                                                         retry_policy=ACTIVITY_RETRY)
        if not planned.cycle_id:
            return ""
        cycle = m.CycleInput(planned.cycle_id, planned.period_start, planned.period_end,
                             dispute_window_seconds=request.dispute_window_seconds,
                             response_poll_seconds=request.response_poll_seconds,
                             confirmation_poll_seconds=request.confirmation_poll_seconds)
        try:
            await workflow.start_child_workflow(
                SettlementCycleWorkflow.run, cycle, id=planned.cycle_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
        except WorkflowAlreadyStartedError:
            workflow.logger.info("cycle %s is already running", planned.cycle_id)
        return planned.cycle_id


HOUSEKEEPING = {task.__name__: task for task in (SettlementActivities.activate_due_lots,
                                                 SettlementActivities.expire_lots, SettlementActivities.expire_holds,
                                                 SettlementActivities.purge_idempotency_keys,
                                                 SettlementActivities.purge_member_records,
                                                 SettlementActivities.warn_expiring_points,
                                                 SettlementActivities.award_lifecycle_bonuses,
                                                 SettlementActivities.review_tiers)}


@workflow.defn
class HousekeepingWorkflow:
    """Started by the housekeeping schedules; each task is idempotent and safe to run twice."""

    @workflow.run
    async def run(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        task = HOUSEKEEPING.get(job.task)
        if task is None:
            raise ApplicationError(f"unknown housekeeping task {job.task!r}", non_retryable=True)
        return await workflow.execute_activity_method(task, job, start_to_close_timeout=timedelta(minutes=5),
                                                      heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                                                      retry_policy=ACTIVITY_RETRY)


WORKFLOWS = [SettlementCycleWorkflow, CycleStarterWorkflow, HousekeepingWorkflow]
