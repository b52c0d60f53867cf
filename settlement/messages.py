"""Workflow and activity payloads: one dataclass per input and result, ids not rows, ints and strings only
(times as ISO 8601 strings; the default data converter has no Decimal). Imported by workflows: no I/O here.

Activities whose result is a fact of the domain return the domain's own dataclass (ClearingSummary,
NettingSummary, SubmitOutcome, ConfirmationTally); the types here are what only the workflows need."""

from __future__ import annotations

from dataclasses import dataclass, field

# What the housekeeping schedules start: each is the name of a SettlementActivities method (and of its activity).
HOUSEKEEPING_TASKS = ("activate_due_lots", "expire_lots", "expire_holds", "purge_idempotency_keys",
                      "warn_expiring_points", "award_lifecycle_bonuses", "purge_member_records")
# Tier requalification: started by a schedule of its own, every tier_review_seconds (settlement.worker).
TIER_REVIEW_TASK = "review_tiers"


@dataclass
class CycleInput:
    """SettlementCycleWorkflow's input; its workflow id is cycle_id."""

    cycle_id: str
    period_start: str  # ISO 8601 with offset
    period_end: str
    dispute_window_seconds: int = 3600
    # Extra wait after period_end before the cut-off (optional: the cut-off itself waits for every ledger transaction
    # in flight and dates later ones at or after period_end: network.store.ledger_time).
    cutoff_grace_seconds: int = 0
    response_poll_seconds: int = 60  # re-read responses from the database (a lost signal is recovered)
    confirmation_poll_seconds: int = 60
    confirmation_timeout_seconds: int = 3 * 86400  # then the cycle raises an operator alert (and keeps polling)
    activity_timeout_seconds: int = 120


@dataclass
class CycleRef:
    cycle_id: str


@dataclass
class OpenCycle:
    cycle_id: str
    period_start: str
    period_end: str
    workflow_id: str


@dataclass
class IssueStatements:
    cycle_id: str
    dispute_deadline: str  # ISO 8601


@dataclass
class RecordCycleState:
    cycle_id: str
    state: str
    alert: str = ""
    note: str = ""


@dataclass
class ResolveDispute:
    dispute_id: str
    outcome: str  # statement_stands | partner_upheld
    operator: str
    note: str = ""


@dataclass
class Responses:
    awaited: list[str] = field(default_factory=list)
    responded: list[str] = field(default_factory=list)
    disputed: list[str] = field(default_factory=list)


@dataclass
class PaymentPlan:
    instruction_ids: list[str] = field(default_factory=list)


@dataclass
class CycleStatus:
    """What SettlementCycleWorkflow's `status` query answers."""

    cycle_id: str
    state: str
    awaited: list[str] = field(default_factory=list)
    responded: list[str] = field(default_factory=list)
    disputes: int = 0
    instruction_ids: list[str] = field(default_factory=list)
    pending_confirmations: int = 0
    alert: str = ""
    dispute_deadline: str = ""


@dataclass
class CycleOutcome:
    cycle_id: str
    state: str
    network_revenue_minor: int
    instructions: int
    note: str = ""


@dataclass
class StartNextCycle:
    """CycleStarterWorkflow's input (what the settlement schedule starts every period)."""

    period_seconds: int
    dispute_window_seconds: int
    response_poll_seconds: int = 60
    confirmation_poll_seconds: int = 60


@dataclass
class PlannedCycle:
    cycle_id: str = ""  # empty: no whole period to settle yet
    period_start: str = ""
    period_end: str = ""


@dataclass
class HousekeepingInput:
    task: str  # one of HOUSEKEEPING_TASKS


@dataclass
class HousekeepingResult:
    task: str
    changed: int
