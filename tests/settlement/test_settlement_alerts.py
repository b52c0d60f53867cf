"""Confirmations that take longer than the timeout raise an operator alert (and the cycle recovers when they
arrive); a rejected payment raises one that the operator closes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from settlement import control
from settlement.domain.payment_plan import instruction_id_for
from settlement.rails import SimulatedBank
from settlement.workflows import SettlementCycleWorkflow
from settlement_helpers import cycle_state, earn, enroll, period_start, redeem, wait_for


def _traffic(engine, ledger, make_partner):
    issuer = make_partner("al-i", settlement_model="issuer_pays")
    redeemer = make_partner("al-r", settlement_model="issuer_pays", clearing_fee_bps=50)
    ledger.contracts.invalidate()
    start = period_start(engine)
    member = enroll(engine, ledger, issuer.partner_id)
    earn(engine, ledger, issuer.partner_id, member, 900)
    redeem(engine, ledger, redeemer.partner_id, member, 400)
    return start, datetime.now(timezone.utc) + timedelta(milliseconds=200), redeemer.partner_id


def _cycle(settings, start, end, **overrides):
    cycle = control.cycle_input(settings, start, end, cutoff_grace_seconds=1, response_poll_seconds=1,
                                confirmation_poll_seconds=1, activity_timeout_seconds=10, **overrides)
    cycle.dispute_window_seconds = 2  # nobody answers: the window closes and payments go out
    return cycle


def test_slow_confirmations_raise_an_alert_then_the_cycle_closes(engine, ledger, make_partner, settlement_settings,
                                                               start_worker, temporal):
    start, end, _ = _traffic(engine, ledger, make_partner)
    bank = SimulatedBank(settlement_settings.data_dir / "slow-bank", delay_seconds=10)
    start_worker(bank)
    cycle = _cycle(settlement_settings, start, end, confirmation_timeout_seconds=2)
    handle = temporal.run(control.start_cycle(temporal.client, settlement_settings, cycle))
    wait_for(lambda: cycle_state(engine, cycle.cycle_id) == "operator_alert", 60, "the alert")
    outcome = temporal.run(handle.result(), timeout=90)
    assert outcome.state == "closed" and outcome.instructions == 2
    assert cycle_state(engine, cycle.cycle_id) == "closed"


def test_rejected_payment_raises_an_alert_the_operator_closes(engine, ledger, make_partner, settlement_settings,
                                                            start_worker, temporal):
    start, end, redeemer = _traffic(engine, ledger, make_partner)
    cycle = _cycle(settlement_settings, start, end)
    payout = instruction_id_for(cycle.cycle_id, redeemer, "payout")  # the bank returns the redeemer's payout
    rejecting = SimulatedBank(settlement_settings.data_dir / "rejecting-bank", reject_instruction_ids=frozenset({payout}))
    start_worker(rejecting)
    handle = temporal.run(control.start_cycle(temporal.client, settlement_settings, cycle))
    wait_for(lambda: cycle_state(engine, cycle.cycle_id) == "operator_alert", 90, "the alert")
    temporal.run(handle.signal(SettlementCycleWorkflow.operator_close, "paid by hand after the bank's rejection"))
    outcome = temporal.run(handle.result(), timeout=60)
    assert outcome.state == "closed" and "by hand" in outcome.note
    with engine.connect() as conn:
        state = conn.exec_driver_sql("SELECT state FROM payment_instructions WHERE instruction_id = %(i)s",
                                     {"i": payout}).scalar_one()
    assert state == "rejected"
