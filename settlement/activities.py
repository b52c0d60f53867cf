"""Settlement activities: thin shells, each one call of settlement.cycles, settlement.responses or
settlement.payments inside one database transaction, one dataclass in and one out. Each is idempotent (keyed by
the cycle and its state in the database), so a retry after a worker was killed at any point repeats nothing that
was done. Workflows call them by reference (workflow.execute_activity_method(SettlementActivities.clear_cycle, ...));
each activity's name is its method's name, as recorded in the workflows' histories.

They are synchronous (SQLAlchemy, the rails' file locks) and run on the worker's thread pool.
"""

from __future__ import annotations

import logging
from typing import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from network import metrics
from network.errors import DomainError
from network.signer import NetworkSigner
from network.store import idempotency, retention
from network.store.ledger import build_ledger
from settlement.settings import SettlementSettings
from settlement import cycles, messages as m, payments, responses, store
from settlement.domain.cycles import CycleOverlaps
from settlement.domain.netting import NettingSummary
from settlement.domain.obligations import ClearingSummary, MissingContract
from settlement.domain.payment_plan import ConfirmationTally, SubmitOutcome
from network import metrics
from settlement.rails import PaymentRail, RailUnavailable

log = logging.getLogger(__name__)


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _final(exc: Exception) -> ApplicationError:
    """An error retrying cannot fix: the workflow sees it at once, typed by its class name."""
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True)


class SettlementActivities:
    def __init__(self, engine: Engine, settings: SettlementSettings, rail: PaymentRail, signer: NetworkSigner,
                 clock: Callable[[], datetime] | None = None):
        """clock: the ledger's clock (tests drive the tier review with the time-skipping server's virtual time)."""
        self._engine = engine
        self._settings = settings
        self._rail = rail
        self._signer = signer
        self._ledger = build_ledger(engine, settings)
        if clock is not None:
            self._ledger.clock = clock

    def all(self) -> list:
        return [self.open_cycle, self.cut_off, self.clear_cycle, self.net_cycle, self.issue_statements,
                self.statement_responses, self.resolve_dispute, self.close_dispute_window, self.plan_payments,
                self.submit_payments, self.record_confirmations, self.record_cycle_state, self.close_cycle,
                self.plan_next_cycle, self.activate_due_lots, self.expire_lots, self.warn_expiring_points,
                self.expire_holds, self.award_lifecycle_bonuses, self.purge_idempotency_keys, self.review_tiers,
                self.purge_member_records]

    # --- the cycle -------------------------------------------------------------------------------------------

    @activity.defn
    def open_cycle(self, request: m.OpenCycle) -> None:
        try:
            with self._engine.begin() as conn:
                cycles.open_cycle(conn, request.cycle_id, parse_time(request.period_start),
                                  parse_time(request.period_end), request.workflow_id, self._settings.network_currency)
        except CycleOverlaps as exc:
            raise _final(exc) from None

    @activity.defn
    def cut_off(self, ref: m.CycleRef) -> None:
        with self._engine.begin() as conn:
            cycles.cut_off(conn, ref.cycle_id)

    @activity.defn
    def clear_cycle(self, ref: m.CycleRef) -> ClearingSummary:
        try:
            with self._engine.begin() as conn:
                summary = cycles.clear(conn, ref.cycle_id, self._settings.point_value_minor)
        except MissingContract as exc:
            raise _final(exc) from None
        log.info("cycle %s cleared: %d obligation lines", ref.cycle_id, summary.obligation_lines)
        return summary

    @activity.defn
    def net_cycle(self, ref: m.CycleRef) -> NettingSummary:
        with self._engine.begin() as conn:
            return cycles.net_cycle(conn, ref.cycle_id)

    @activity.defn
    def issue_statements(self, request: m.IssueStatements) -> m.Responses:
        with self._engine.begin() as conn:
            awaited = cycles.issue_statements(conn, request.cycle_id, parse_time(request.dispute_deadline),
                                              self._signer)
            return m.Responses(awaited, store.statements.responded_partners(conn, request.cycle_id))

    @activity.defn
    def statement_responses(self, ref: m.CycleRef) -> m.Responses:
        with self._engine.connect() as conn:
            return m.Responses(store.statements.awaited_partners(conn, ref.cycle_id),
                               store.statements.responded_partners(conn, ref.cycle_id),
                               store.statements.disputing_partners(conn, ref.cycle_id))

    @activity.defn
    def resolve_dispute(self, request: m.ResolveDispute) -> None:
        try:
            with self._engine.begin() as conn:
                responses.resolve_dispute(conn, request.dispute_id, request.outcome, request.operator, request.note)
        except DomainError as exc:  # already resolved, unknown: nothing to do again
            log.warning("dispute %s not resolved by signal: %s", request.dispute_id, exc)

    @activity.defn
    def close_dispute_window(self, ref: m.CycleRef) -> None:
        with self._engine.begin() as conn:
            cycles.close_dispute_window(conn, ref.cycle_id)

    @activity.defn
    def plan_payments(self, ref: m.CycleRef) -> m.PaymentPlan:
        with self._engine.begin() as conn:
            return m.PaymentPlan(cycles.plan_payments(conn, ref.cycle_id))

    @activity.defn
    def submit_payments(self, ref: m.CycleRef) -> SubmitOutcome:
        try:
            return payments.submit_payments(self._engine, self._rail, ref.cycle_id)
        except RailUnavailable as exc:
            log.warning("cycle %s: payment rail unavailable (attempt %d): %s", ref.cycle_id, activity.info().attempt, exc)
            raise

    @activity.defn
    def record_confirmations(self, ref: m.CycleRef) -> ConfirmationTally:
        return payments.record_confirmations(self._engine, self._rail, ref.cycle_id)

    @activity.defn
    def record_cycle_state(self, request: m.RecordCycleState) -> None:
        with self._engine.begin() as conn:
            cycles.record_state(conn, request.cycle_id, request.state, request.note, request.alert)

    @activity.defn
    def close_cycle(self, request: m.RecordCycleState) -> None:
        with self._engine.begin() as conn:
            seconds = cycles.close_cycle(conn, request.cycle_id, request.note)
        if seconds is not None:
            metrics.observe_settlement_cycle(seconds, "closed")

    # --- the schedules -----------------------------------------------------------------------------------------

    @activity.defn
    def plan_next_cycle(self, request: m.StartNextCycle) -> m.PlannedCycle:
        """The period just ended, from where the last cycle stopped; its cycle row is created here."""
        try:
            with self._engine.begin() as conn:
                cycle = cycles.plan_next_cycle(conn, datetime.now(timezone.utc), request.period_seconds,
                                               self._settings.network_currency)
        except CycleOverlaps as exc:
            raise _final(exc) from None
        if cycle is None:
            return m.PlannedCycle()
        return m.PlannedCycle(cycle.cycle_id, cycle.period_start.isoformat(), cycle.period_end.isoformat())

    @activity.defn
    def activate_due_lots(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.activate_due_lots(conn))

    @activity.defn
    def expire_lots(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.expire_lots(conn))

    @activity.defn
    def warn_expiring_points(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        """points.expiring events to the issuers, expiry_warning_days ahead, once per lot and expiry."""
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.warn_expiring(
                conn, timedelta(days=self._settings.expiry_warning_days)))

    @activity.defn
    def expire_holds(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.expire_holds(conn))

    @activity.defn
    def award_lifecycle_bonuses(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        """Referral bonuses due (network.store.lifecycle), once per member and occasion whatever the reruns."""
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.award_lifecycle_bonuses(conn))

    @activity.defn
    def review_tiers(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        """Tier requalification with a one-level soft landing (network.store.tiers): the members moved down."""
        with self._engine.begin() as conn:
            return m.HousekeepingResult(job.task, self._ledger.review_tiers(
                conn, timedelta(days=self._settings.tier_hold_days)))

    @activity.defn
    def purge_member_records(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        """The members' security records past member_records_retention_days (network.store.retention)."""
        deleted = retention.purge_member_records(self._engine, self._settings.member_records_retention_days,
                                                 self._ledger.clock())
        return m.HousekeepingResult(job.task, sum(deleted.values()))

    @activity.defn
    def purge_idempotency_keys(self, job: m.HousekeepingInput) -> m.HousekeepingResult:
        """Idempotency keys older than the retention window, deleted in batches (one transaction each)."""
        return m.HousekeepingResult(job.task, idempotency.purge_expired(
            self._engine, self._settings.idempotency_retention_seconds))
