"""Settlement activities: thin shells, each one database transaction around one function of settlement.cycles,
settlement.clearing or settlement.payments. Each is idempotent (keyed by the cycle and its state in the database),
so a retry after a worker was killed at any point repeats nothing that was done.

They are synchronous (SQLAlchemy, the rails' file locks) and run on the worker's thread pool.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from network.errors import DomainError
from network.signer import NetworkSigner
from network.store.ledger import build_ledger
from network.settings import Settings
from network import metrics
from settlement import clearing, cycles, payments
from settlement import messages as m
from settlement.rails import PaymentRail, RailUnavailable

log = logging.getLogger(__name__)


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _final(exc: Exception) -> ApplicationError:
    """An error retrying cannot fix: the workflow sees it at once, typed by its class name."""
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)


class SettlementActivities:
    def __init__(self, engine: Engine, settings: Settings, rail: PaymentRail, signer: NetworkSigner):
        self._engine = engine
        self._settings = settings
        self._rail = rail
        self._signer = signer
        self._ledger = build_ledger(engine, settings)

    def all(self) -> list:
        return [self.open_cycle, self.cut_off, self.clear_cycle, self.net_cycle, self.issue_statements,
                self.statement_responses, self.resolve_dispute, self.close_dispute_window, self.plan_payments,
                self.submit_payments, self.record_confirmations, self.record_cycle_state, self.close_cycle,
                self.plan_next_cycle, self.activate_due_lots, self.expire_lots, self.expire_holds]

    # --- the cycle -------------------------------------------------------------------------------------------

    @activity.defn(name=m.OPEN_CYCLE)
    def open_cycle(self, request: m.OpenCycle) -> None:
        try:
            with self._engine.begin() as conn:
                cycles.open_cycle(conn, request.cycle_id, parse_time(request.period_start),
                                  parse_time(request.period_end), request.workflow_id, self._settings.network_currency)
        except cycles.CycleOverlaps as exc:
            raise _final(exc) from None

    @activity.defn(name=m.CUT_OFF)
    def cut_off(self, ref: m.CycleRef) -> None:
        with self._engine.begin() as conn:
            cycles.cut_off(conn, ref.cycle_id)

    @activity.defn(name=m.CLEAR_CYCLE)
    def clear_cycle(self, ref: m.CycleRef) -> m.ClearingResult:
        try:
            with self._engine.begin() as conn:
                summary = clearing.clear(conn, ref.cycle_id, self._settings.point_value_minor)
        except clearing.MissingContract as exc:
            raise _final(exc) from None
        log.info("cycle %s cleared: %d obligation lines", ref.cycle_id, summary.obligation_lines)
        return m.ClearingResult(summary.obligation_lines, summary.obligations_minor, summary.matrix_cells)

    @activity.defn(name=m.NET_CYCLE)
    def net_cycle(self, ref: m.CycleRef) -> m.NettingResult:
        with self._engine.begin() as conn:
            summary = clearing.net_cycle(conn, ref.cycle_id)
        return m.NettingResult(summary.positions, summary.network_revenue_minor, summary.residual_minor,
                               summary.conserved)

    @activity.defn(name=m.ISSUE_STATEMENTS)
    def issue_statements(self, request: m.IssueStatements) -> m.Responses:
        with self._engine.begin() as conn:
            awaited = cycles.issue_statements(conn, request.cycle_id, parse_time(request.dispute_deadline),
                                              self._signer)
            return m.Responses(awaited, cycles.responded_partners(conn, request.cycle_id))

    @activity.defn(name=m.STATEMENT_RESPONSES)
    def statement_responses(self, ref: m.CycleRef) -> m.Responses:
        with self._engine.connect() as conn:
            return m.Responses(cycles.awaited_partners(conn, ref.cycle_id), cycles.responded_partners(conn, ref.cycle_id),
                               cycles.disputing_partners(conn, ref.cycle_id))

    @activity.defn(name=m.RESOLVE_DISPUTE)
    def resolve_dispute(self, request: m.ResolveDispute) -> None:
        try:
            with self._engine.begin() as conn:
                cycles.resolve_dispute(conn, request.dispute_id, request.outcome, request.operator, request.note)
        except DomainError as exc:  # already resolved, unknown: nothing to do again
            log.warning("dispute %s not resolved by signal: %s", request.dispute_id, exc)

    @activity.defn(name=m.CLOSE_DISPUTE_WINDOW)
    def close_dispute_window(self, ref: m.CycleRef) -> None:
        with self._engine.begin() as conn:
            cycles.close_dispute_window(conn, ref.cycle_id)

    @activity.defn(name=m.PLAN_PAYMENTS)
    def plan_payments(self, ref: m.CycleRef) -> m.PaymentPlan:
        with self._engine.begin() as conn:
            return m.PaymentPlan(cycles.plan_payments(conn, ref.cycle_id))

    @activity.defn(name=m.SUBMIT_PAYMENTS)
    def submit_payments(self, ref: m.CycleRef) -> m.SubmitResult:
        try:
            outcome = payments.submit_payments(self._engine, self._rail, ref.cycle_id)
        except RailUnavailable as exc:
            log.warning("cycle %s: payment rail unavailable (attempt %d): %s", ref.cycle_id, activity.info().attempt, exc)
            raise
        with self._engine.begin() as conn:
            cycles.move_cycle(conn, ref.cycle_id, "payments_submitted",
                              {"submitted": outcome.submitted, "duplicates": outcome.duplicates,
                               "failed": list(outcome.failed)})
        return m.SubmitResult(outcome.submitted, outcome.duplicates, list(outcome.failed))

    @activity.defn(name=m.RECORD_CONFIRMATIONS)
    def record_confirmations(self, ref: m.CycleRef) -> m.ConfirmationResult:
        tally = payments.record_confirmations(self._engine, self._rail, ref.cycle_id)
        return m.ConfirmationResult(tally.pending, tally.settled, tally.rejected, tally.failed, list(tally.rejections))

    @activity.defn(name=m.RECORD_CYCLE_STATE)
    def record_cycle_state(self, request: m.RecordCycleState) -> None:
        with self._engine.begin() as conn:
            cycles.lock_cycle(conn, request.cycle_id)
            cycles.move_cycle(conn, request.cycle_id, request.state, {"note": request.note} if request.note else None,
                              alert=request.alert or None)

    @activity.defn(name=m.CLOSE_CYCLE)
    def close_cycle(self, request: m.RecordCycleState) -> None:
        with self._engine.begin() as conn:
            cycles.close_cycle(conn, request.cycle_id, request.note)
            row = conn.exec_driver_sql("SELECT extract(epoch FROM closed_at - created_at) FROM cycles "
                                       "WHERE cycle_id = %(c)s", {"c": request.cycle_id}).first()
        if row and row[0] is not None:
            metrics.observe_settlement_cycle(float(row[0]), "closed")

    # --- the schedules -----------------------------------------------------------------------------------------

    @activity.defn(name=m.PLAN_NEXT_CYCLE)
    def plan_next_cycle(self, request: m.StartNextCycle) -> m.PlannedCycle:
        """The period just ended, from where the last cycle stopped; its cycle row is created here."""
        start, end = cycles.period_ending(datetime.now(timezone.utc), request.period_seconds)
        with self._engine.begin() as conn:
            conn.exec_driver_sql("LOCK TABLE cycles IN SHARE ROW EXCLUSIVE MODE")
            last_end = cycles.last_period_end(conn)
            if last_end is not None:
                start = last_end
            if start >= end:
                return m.PlannedCycle()
            cycle_id = cycles.cycle_id_for(start)
            try:
                cycles.open_cycle(conn, cycle_id, start, end, cycle_id, self._settings.network_currency)
            except cycles.CycleOverlaps as exc:
                raise _final(exc) from None
        return m.PlannedCycle(cycle_id, start.isoformat(), end.isoformat())

    @activity.defn(name=m.ACTIVATE_DUE_LOTS)
    def activate_due_lots(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.activate_due_lots(conn))

    @activity.defn(name=m.EXPIRE_LOTS)
    def expire_lots(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.expire_lots(conn))

    @activity.defn(name=m.EXPIRE_HOLDS)
    def expire_holds(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.expire_holds(conn))
