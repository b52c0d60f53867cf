"""A worker killed after statements and again during payouts, a payment rail that fails before it succeeds, a crash
between the bank's answer and the database: the cycle completes and no partner is paid twice. And the recorded
history of a full cycle with a dispute replays deterministically."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import text
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from partners.client import PartnerClient
from settlement import control, payments
from settlement.rails import SimulatedBank
from settlement.workflows import SettlementCycleWorkflow
from settlement_helpers import cycle_state, earn, enroll, period_start, redeem, wait_for

HISTORY = Path(__file__).resolve().parents[1] / "histories" / "settlement_cycle_with_dispute.json"


def test_recorded_cycle_history_replays():
    history = WorkflowHistory.from_json("cyc-recorded", json.loads(HISTORY.read_text()))
    import asyncio

    asyncio.run(Replayer(workflows=[SettlementCycleWorkflow]).replay_workflow(history))


def instruction_states(engine, cycle_id: str) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.instruction_id: r.state for r in conn.execute(text(
            "SELECT instruction_id, state FROM payment_instructions WHERE cycle_id = :c"), {"c": cycle_id})}


def test_killed_workers_and_a_failing_rail_never_pay_twice(engine, ledger, make_partner, settlement_target,
                                                          settlement_settings, start_worker, temporal):
    d = make_partner("d", settlement_model="issuer_pays", clearing_fee_bps=100)
    e = make_partner("e", settlement_model="issuer_pays", clearing_fee_bps=100)
    ledger.contracts.invalidate()
    start = period_start(engine)
    member = enroll(engine, ledger, d.partner_id)
    earn(engine, ledger, d.partner_id, member, 5000)
    redeem(engine, ledger, e.partner_id, member, 3000)
    end = datetime.now(timezone.utc) + timedelta(milliseconds=200)
    bank_dir = settlement_settings.data_dir / "bank"

    def bank() -> SimulatedBank:  # every worker meets the same bank (its state is on disk)
        return SimulatedBank(bank_dir, delay_seconds=4, fail_submissions=2)

    first = start_worker(bank())
    cycle = control.cycle_input(settlement_settings, start, end, cutoff_grace_seconds=1, response_poll_seconds=1,
                                confirmation_poll_seconds=1, activity_timeout_seconds=10)
    cycle.dispute_window_seconds = 30
    handle = temporal.run(control.start_cycle(temporal.client, settlement_settings, cycle))
    wait_for(lambda: cycle_state(engine, cycle.cycle_id) == "awaiting_responses", 60, "statements")
    first.kill()  # killed after statements

    for partner in (d, e):  # the partners answer while no worker runs: the signals wait in the history
        with PartnerClient(settlement_target, partner.key_id, partner.private_key) as client:
            [statement] = list(client.list_statements(cycle_id=cycle.cycle_id))
            client.acknowledge_statement(statement.statement_id)
    second = start_worker(bank())
    wait_for(lambda: set(instruction_states(engine, cycle.cycle_id).values()) == {"submitted"}, 60, "submission")
    second.kill()  # killed during payouts: confirmations are still due at the bank

    start_worker(bank())
    outcome = temporal.run(handle.result(), timeout=90)
    assert outcome.state == "closed" and outcome.instructions == 2
    made = bank().payments_made()
    ids = instruction_states(engine, cycle.cycle_id)
    assert set(ids.values()) == {"settled"}
    assert {i: made.get(i) for i in ids} == {i: 1 for i in ids}
    records = [json.loads(line) for line in (bank_dir / "bank.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "unavailable" for r in records) == 2  # the rail failed twice, the retry succeeded

    # a crash after the bank accepted but before the row said so: resubmitting moves no money
    with engine.begin() as conn:
        conn.execute(text("UPDATE payment_instructions SET state = 'created' WHERE cycle_id = :c"), {"c": cycle.cycle_id})
    outcome = payments.submit_payments(engine, bank(), cycle.cycle_id)
    assert (outcome.submitted, outcome.duplicates) == (0, 2)
    assert {i: bank().payments_made().get(i) for i in ids} == {i: 1 for i in ids}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT conserved FROM cycles WHERE cycle_id = :c"), {"c": cycle.cycle_id}).scalar_one()
