"""A cycle's steps in the database, the source of truth: open, cut off, clear, net, issue statements, close the
dispute window, plan payments, record its state, close; and planning the next period for the schedule.

Each step runs inside the transaction its caller opened, locks the cycle row, and acts only when the cycle is in
the state before it, so a step repeated after a retry finds its work done and answers the same. Each loads through
settlement.store, decides with settlement.domain and writes through settlement.store; every state move is recorded
in cycle_events in the same transaction.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import Connection

from network.signer import NetworkSigner
from network.store import ledger_time
from settlement import store
from settlement.domain import netting, obligations, payment_plan
from settlement.domain.cycles import RESPONSE_STATE, CycleOverlaps, cycle_id_for, next_period
from settlement.domain.statements import build_statement, canonical_bytes, statement_lines
from settlement.store.cycles import CycleRow
from settlement.store.statements import SignedStatement


def open_cycle(conn: Connection, cycle_id: str, start: datetime, end: datetime, workflow_id: str,
               currency: str) -> CycleRow:
    """Create the cycle row (a second call for the same cycle and period finds it). Refuses a period that overlaps
    another cycle's, and another period under an existing cycle's id."""
    if start >= end:
        raise CycleOverlaps(f"cycle {cycle_id}: the period must end after it starts")
    clash = store.cycles.overlapping(conn, cycle_id, start, end)
    if clash:
        raise CycleOverlaps(f"cycle {cycle_id} [{start.isoformat()}, {end.isoformat()}) overlaps cycle {clash}")
    if store.cycles.insert(conn, cycle_id, start, end, workflow_id, currency):
        store.cycles.record_event(conn, cycle_id, "state", {"period_start": start, "period_end": end}, "scheduled")
    cycle = store.cycles.lock(conn, cycle_id)
    if (cycle.period_start, cycle.period_end) != (start, end):
        raise CycleOverlaps(f"cycle {cycle_id} exists for [{cycle.period_start.isoformat()}, "
                            f"{cycle.period_end.isoformat()}), not [{start.isoformat()}, {end.isoformat()})")
    return cycle


def plan_next_cycle(conn: Connection, now: datetime, period_seconds: int, currency: str) -> CycleRow | None:
    """The period just ended, from where the last cycle stopped, with its cycle row; None when none is due.

    A planned cycle still 'scheduled' comes first: a planning attempt that committed its row and then lost its
    answer (the worker killed before Temporal heard back) is retried, and the retry must start that cycle's
    workflow, not plan the period after it and leave the committed one without a workflow for ever. Starting a
    workflow already running is harmless (the schedule's workflow finds it running)."""
    store.cycles.lock_all(conn)
    unstarted = store.cycles.oldest_unstarted(conn)
    if unstarted is not None:
        return store.cycles.lock(conn, unstarted)
    period = next_period(now, period_seconds, store.cycles.last_period_end(conn))
    if period is None:
        return None
    cycle_id = cycle_id_for(period[0])
    return open_cycle(conn, cycle_id, *period, cycle_id, currency)


def cut_off(conn: Connection, cycle_id: str) -> None:
    """Close the period by commit order: wait until every ledger transaction in flight has committed, then move the
    ledger's cut-off watermark to period_end (network.store.ledger_time), so nothing dated before period_end can
    commit any more and every later transaction is dated at or after it."""
    cycle = store.cycles.lock(conn, cycle_id)
    if cycle.state == "scheduled":
        ledger_time.close_before(conn, cycle.period_end)
        store.cycles.move(conn, cycle_id, "cut_off")


def clear(conn: Connection, cycle_id: str, point_value_minor: Decimal) -> obligations.ClearingSummary:
    """Write the cycle's obligations and clearing matrix (once: a cleared cycle is left as it is).

    Issuer by issuer: every obligation line and matrix cell names its issuer, so the period's lines are the union of
    each issuer's (obligations.obligations); the process holds one issuer's flows and lines at a time."""
    cycle = store.cycles.lock(conn, cycle_id)
    if cycle.state == "cut_off":
        flows = lines = total_minor = 0
        store.clearing.open_staging(conn)
        for issuer_flows in store.clearing.flows_by_issuer(conn, cycle.period_start, cycle.period_end):
            issuer_lines = obligations.obligations(issuer_flows, point_value_minor, cycle.currency)
            cells = obligations.clearing_matrix(issuer_flows, issuer_lines, cycle.currency)
            store.clearing.stage(conn, issuer_lines, cells)
            flows += len(issuer_flows)
            lines += len(issuer_lines)
            total_minor += sum(o.amount_minor for o in issuer_lines)
        store.clearing.write_staged(conn, cycle_id)
        store.cycles.set_clearing_totals(conn, cycle_id, lines, total_minor)
        store.cycles.record_period_journal(conn, cycle_id, cycle.period_start, cycle.period_end)
        store.cycles.move(conn, cycle_id, "cleared", {"obligation_lines": lines, "flows": flows})
    return store.cycles.clearing_summary(conn, cycle_id)


def net_cycle(conn: Connection, cycle_id: str) -> netting.NettingSummary:
    """One position per partner per currency, the amounts carried in from earlier cycles, and conservation."""
    cycle = store.cycles.lock(conn, cycle_id)
    if cycle.state == "cleared":
        carried = store.positions.claim_carryovers(conn, cycle_id)
        netted = netting.net_cycle(store.clearing.load_obligations(conn, cycle_id), carried, cycle.currency)
        store.positions.write_positions(conn, cycle_id, netted.positions)
        store.cycles.set_netting(conn, cycle_id, netted)
        store.cycles.move(conn, cycle_id, "netted", {"positions": len(netted.netting.positions),
                                                     "conserved": netted.conserved, "carried_in": len(carried)})
    return store.cycles.netting_summary(conn, cycle_id)


def issue_statements(conn: Connection, cycle_id: str, dispute_deadline: datetime, signer: NetworkSigner,
                     issued_at: datetime | None = None) -> list[str]:
    """One signed statement per position of the cycle; returns the partners whose response is awaited.
    issued_at: the statements' date (now by default; the demo's back-dated history injects its clock)."""
    cycle = store.cycles.lock(conn, cycle_id)
    if cycle.state == "netted":
        by_party: dict[str, list[obligations.Obligation]] = {}
        for o in store.clearing.load_obligations(conn, cycle_id):
            by_party.setdefault(o.payer, []).append(o)
            by_party.setdefault(o.payee, []).append(o)
        carried = store.positions.carried_into(conn, cycle_id)
        issued_at = issued_at or datetime.now(timezone.utc)
        signed = []
        for p in store.positions.positions(conn, cycle_id):
            own = [o for o in by_party.get(p.partner_id, []) if o.currency == p.currency]
            lines = statement_lines(p.partner_id, own, carried.get((p.partner_id, p.currency), []))
            body = build_statement(cycle_id, p.partner_id, p.currency, (cycle.period_start, cycle.period_end),
                                   issued_at, dispute_deadline, lines)
            payload = canonical_bytes(body)
            signed.append(SignedStatement(body, payload, signer.sign(payload), signer.key_id))
        written = store.statements.write_statements(conn, signed)
        store.cycles.set_dispute_deadline(conn, cycle_id, dispute_deadline)
        store.cycles.move(conn, cycle_id, "statements_issued", {"statements": written, "network_key_id": signer.key_id})
        store.cycles.move(conn, cycle_id, RESPONSE_STATE, {"dispute_deadline": dispute_deadline})
    return store.statements.awaited_partners(conn, cycle_id)


def close_dispute_window(conn: Connection, cycle_id: str) -> None:
    if store.cycles.lock(conn, cycle_id).state == RESPONSE_STATE:
        store.cycles.move(conn, cycle_id, "paying", {"unanswered": store.statements.awaited_partners(conn, cycle_id)})


def plan_payments(conn: Connection, cycle_id: str) -> list[str]:
    """Decide every position's payable amount and write its payment instruction (once); returns instruction ids."""
    cycle = store.cycles.lock(conn, cycle_id)
    if cycle.state == "paying":
        disputes = store.positions.disputed_in(conn, cycle_id)
        carried = store.positions.held_carried_into(conn, cycle_id)
        planned, carried_out = [], 0
        for p in store.positions.positions(conn, cycle_id):
            key = (p.partner_id, p.currency)
            plan = payment_plan.plan_position(cycle_id, p.partner_id, p.currency, p.net_minor, disputes.get(key, []),
                                              carried.get(key, []))
            store.positions.set_plan(conn, cycle_id, p, plan)
            carried_out += len(plan.settlement.carried_out)
            if plan.instruction:
                planned.append(plan.instruction)
        store.payments.insert_instructions(conn, cycle_id, planned)
        store.cycles.move(conn, cycle_id, "payments_planned", {"instructions": len(planned), "carried_out": carried_out})
    return store.payments.instruction_ids(conn, cycle_id)


def record_state(conn: Connection, cycle_id: str, state: str, note: str = "", alert: str = "") -> None:
    store.cycles.lock(conn, cycle_id)
    store.cycles.move(conn, cycle_id, state, {"note": note} if note else None, alert=alert or None)


def close_cycle(conn: Connection, cycle_id: str, note: str = "") -> float | None:
    """Close the cycle; returns the seconds from its creation to its closing."""
    record_state(conn, cycle_id, "closed", note)
    return store.cycles.seconds_to_close(conn, cycle_id)
