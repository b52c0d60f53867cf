"""End to end on a real Temporal dev server, real PostgreSQL and signed gRPC: two cycles with partners on both
settlement models, an acknowledgement, a dispute carried into the next cycle, a reversal crossing the cycle
boundary, payouts and collections confirmed by the simulated bank, conservation, partner isolation, replay."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from network.errors import DomainError
from network.store.verify import verify_ledger
from partners import signing
from partners.client import PartnerClient
from partners.errors import CoalitionError, FailedPrecondition
from settlement import control, responses
from settlement.rails import SimulatedBank
from settlement.verify import check_cycle_conservation
from settlement.workflows import SettlementCycleWorkflow
from settlement_helpers import cycle_state, earn, enroll, period_start, redeem, wait_for

HISTORY = Path(__file__).resolve().parents[1] / "histories" / "settlement_cycle_with_dispute.json"
FAST = dict(cutoff_grace_seconds=1, response_poll_seconds=1, confirmation_poll_seconds=1,
            confirmation_timeout_seconds=60, activity_timeout_seconds=20)


def positions(engine, cycle_id: str) -> dict[str, tuple[int, int | None]]:
    with engine.connect() as conn:
        return {r.partner_id: (r.net_minor, r.payable_minor) for r in conn.execute(text(
            "SELECT partner_id, net_minor, payable_minor FROM net_positions WHERE cycle_id = :c"), {"c": cycle_id})}


def instructions(engine, cycle_id: str) -> dict[str, tuple[str, int, str]]:
    with engine.connect() as conn:
        return {r.partner_id: (r.direction, r.amount_minor, r.state) for r in conn.execute(text(
            "SELECT partner_id, direction, amount_minor, state FROM payment_instructions WHERE cycle_id = :c"),
            {"c": cycle_id})}


def settlement_rows(engine, cycle_id: str) -> dict:
    """What a refused response or resolution must leave unchanged: the cycle's statements, disputes and events."""
    with engine.connect() as conn:
        return {table: sorted(tuple(r) for r in conn.execute(text(sql), {"c": cycle_id})) for table, sql in (
            ("statements", "SELECT statement_id, state, responded_at FROM statements WHERE cycle_id = :c"),
            ("disputes", "SELECT dispute_id, state, outcome FROM disputes WHERE cycle_id = :c"),
            ("cycle_events", "SELECT count(*) FROM cycle_events WHERE cycle_id = :c"),
            ("operator_actions", "SELECT count(*) FROM operator_actions"))}


def statement_of(client: PartnerClient, cycle_id: str):
    [summary] = list(client.list_statements(cycle_id=cycle_id))
    return client.get_statement(summary.statement_id)  # verifies the network's signature


def test_two_cycles_with_a_dispute_carried_over(engine, ledger, make_partner, settlement_target, settlement_settings,
                                               start_worker, temporal):
    a = make_partner("a", settlement_model="issuer_pays", clearing_fee_bps=100)
    b = make_partner("b", settlement_model="issuer_pays", clearing_fee_bps=200)
    c = make_partner("c", settlement_model="prefunded", issue_price_minor_per_point=1.2,
                     redemption_rate_minor_per_point=0.9)
    ledger.contracts.invalidate()
    start1 = period_start(engine)
    m1, m2 = enroll(engine, ledger, a.partner_id), enroll(engine, ledger, c.partner_id)
    earn(engine, ledger, a.partner_id, m1, 1000)
    earn(engine, ledger, c.partner_id, m2, 500)                     # prefund_issue c -> network 600
    cross = redeem(engine, ledger, b.partner_id, m1, 400)            # a -> b 400, fee b -> network 8
    redeem(engine, ledger, b.partner_id, m2, 200)                    # network -> b 200 (b has no rate: point value)
    redeem(engine, ledger, a.partner_id, m1, 100)                    # own points: fee a -> network 1
    redeem(engine, ledger, c.partner_id, m2, 100)                    # network -> c 90
    end1 = datetime.now(timezone.utc) + timedelta(milliseconds=200)
    bank = SimulatedBank(settlement_settings.data_dir / "bank")
    start_worker(bank)
    cycle1 = control.cycle_input(settlement_settings, start1, end1, **FAST)
    cycle1.dispute_window_seconds = 8
    handle = temporal.run(control.start_cycle(temporal.client, settlement_settings, cycle1))
    wait_for(lambda: cycle_state(engine, cycle1.cycle_id) == "awaiting_responses", 60, "statements")
    assert positions(engine, cycle1.cycle_id) == {a.partner_id: (-401, None), b.partner_id: (592, None),
                                                  c.partner_id: (-510, None)}

    client_a = PartnerClient(settlement_target, a.key_id, a.private_key)
    client_b = PartnerClient(settlement_target, b.key_id, b.private_key)
    client_c = PartnerClient(settlement_target, c.key_id, c.private_key)
    statement_a, statement_b = statement_of(client_a, cycle1.cycle_id), statement_of(client_b, cycle1.cycle_id)
    statement_c = statement_of(client_c, cycle1.cycle_id)
    # a statement that does not verify under the network's key is refused by the SDK
    forged_keys = {statement_a.network_key_id: signing.raw_public(signing.generate_private_key())}
    with PartnerClient(settlement_target, a.key_id, a.private_key, network_keys=forged_keys) as misled:
        with pytest.raises(signing.SignatureError) as forged:
            misled.get_statement(statement_a.summary.statement_id)
    assert forged.value.reason == "STATEMENT_SIGNATURE_INVALID"
    # the dispute window is closed at its deadline exactly (a's statement is still unanswered here)
    before = settlement_rows(engine, cycle1.cycle_id)
    with pytest.raises(DomainError) as at_deadline, engine.begin() as conn:
        deadline = responses.get_statement(conn, None, statement_a.summary.statement_id).body.dispute_deadline
        responses.dispute_statement(conn, a.partner_id, statement_a.summary.statement_id, [1], 0, "at the deadline",
                                 now=deadline)
    assert (at_deadline.value.code.name, at_deadline.value.reason) == ("FAILED_PRECONDITION", "DISPUTE_WINDOW_CLOSED")
    assert settlement_rows(engine, cycle1.cycle_id) == before
    assert statement_b.summary.net_minor == 592 and statement_b.receivable_minor == 600
    assert [(ln.cause, ln.counterparty, ln.amount_minor) for ln in statement_b.lines] == [
        ("prefund_reimburse", "network", 200), ("redemption_clearing", a.partner_id, 400),
        ("redemption_fee", "network", -8)]
    # a partner can neither read nor answer another partner's statement
    for call in (lambda: client_a.get_statement(statement_b.summary.statement_id),
                 lambda: client_a.acknowledge_statement(statement_b.summary.statement_id)):
        with pytest.raises(CoalitionError) as refused:
            call()
        assert (refused.value.code.name, refused.value.reason) == ("PERMISSION_DENIED", "NOT_YOUR_STATEMENT")
    assert client_a.acknowledge_statement(statement_a.summary.statement_id).state == 2
    before = settlement_rows(engine, cycle1.cycle_id)
    with pytest.raises(FailedPrecondition) as refused:  # an acknowledged statement can no longer be disputed
        client_a.dispute_statement(statement_a.summary.statement_id, [1], "changed our mind")
    assert refused.value.reason == "STATEMENT_ACKNOWLEDGED"
    assert settlement_rows(engine, cycle1.cycle_id) == before
    disputed = client_b.dispute_statement(statement_b.summary.statement_id, [2], "100 of these points were returned",
                                          amount_minor=100)
    assert disputed.disputed_minor == 100
    with pytest.raises(CoalitionError) as refused:
        client_b.acknowledge_statement(statement_b.summary.statement_id)
    assert refused.value.reason == "STATEMENT_DISPUTED"
    before = settlement_rows(engine, cycle1.cycle_id)
    with pytest.raises(FailedPrecondition) as refused:
        client_b.dispute_statement(statement_b.summary.statement_id, [1], "once more")
    assert refused.value.reason == "STATEMENT_ALREADY_DISPUTED"
    assert settlement_rows(engine, cycle1.cycle_id) == before
    # c never answers: the dispute window closes, then payouts and collections
    outcome = temporal.run(handle.result(), timeout=90)
    assert outcome.state == "closed"
    assert instructions(engine, cycle1.cycle_id) == {a.partner_id: ("collection", 401, "settled"),
                                                     b.partner_id: ("payout", 492, "settled"),
                                                     c.partner_id: ("collection", 510, "settled")}
    with engine.connect() as conn:
        carried = conn.execute(text("SELECT partner_id, amount_minor, into_cycle_id FROM carryovers "
                                    "WHERE from_cycle_id = :c"), {"c": cycle1.cycle_id}).all()
    assert [tuple(r) for r in carried] == [(b.partner_id, 100, None)]
    before = settlement_rows(engine, cycle1.cycle_id)
    with pytest.raises(FailedPrecondition) as refused:  # c never answered: only the closed window refuses it
        client_c.dispute_statement(statement_c.summary.statement_id, [1], "too late")
    assert refused.value.reason == "DISPUTE_WINDOW_CLOSED"
    assert settlement_rows(engine, cycle1.cycle_id) == before
    record_and_replay(temporal, handle)

    # cycle 2: b takes back 100 points of the cycle-1 redemption; the operator lets b's statement stand
    start2 = period_start(engine)
    with engine.begin() as conn:
        ledger.reverse(conn, b.partner_id, cross, 100, "return", uuid.uuid4().hex)
    end2 = datetime.now(timezone.utc) + timedelta(milliseconds=200)
    note = temporal.run(control.resolve_dispute(temporal.client, engine, disputed.dispute_id, "statement_stands",
                                                "ops@test"))
    assert note.startswith("resolved in cycle")  # cycle 1 is closed: resolved in the database
    before = settlement_rows(engine, cycle1.cycle_id)
    with pytest.raises(DomainError) as resolved_twice:
        temporal.run(control.resolve_dispute(temporal.client, engine, disputed.dispute_id, "partner_upheld", "ops@test"))
    assert (resolved_twice.value.code.name, resolved_twice.value.reason) == ("FAILED_PRECONDITION", "DISPUTE_RESOLVED")
    assert settlement_rows(engine, cycle1.cycle_id) == before
    cycle2 = control.cycle_input(settlement_settings, start2, end2, **FAST)
    handle2 = temporal.run(control.start_cycle(temporal.client, settlement_settings, cycle2))
    wait_for(lambda: cycle_state(engine, cycle2.cycle_id) == "awaiting_responses", 60, "statements of cycle 2")
    statement_b2 = statement_of(client_b, cycle2.cycle_id)
    assert [(ln.cause, ln.amount_minor) for ln in statement_b2.lines] == [
        ("redemption_clearing_reversal", -100), ("redemption_fee_reversal", 2), ("carried_dispute", 100)]
    client_b.acknowledge_statement(statement_b2.summary.statement_id)
    client_a.acknowledge_statement(statement_of(client_a, cycle2.cycle_id).summary.statement_id)
    assert temporal.run(handle2.result(), timeout=60).state == "closed"
    assert positions(engine, cycle2.cycle_id) == {a.partner_id: (100, 100), b.partner_id: (-98, 2)}
    assert instructions(engine, cycle2.cycle_id) == {a.partner_id: ("payout", 100, "settled"),
                                                     b.partner_id: ("payout", 2, "settled")}
    assert all(n == 1 for n in bank.payments_made().values()) and len(bank.payments_made()) == 5
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT cycle_id, conserved, network_revenue_minor FROM cycles WHERE cycle_id IN "
                                 "(:c1, :c2) ORDER BY cycle_id"), {"c1": cycle1.cycle_id, "c2": cycle2.cycle_id}).all()
        assert [(r.conserved, r.network_revenue_minor) for r in rows] == [(True, 319), (True, -2)]
        assert conn.execute(text("SELECT into_cycle_id FROM carryovers WHERE from_cycle_id = :c"),
                            {"c": cycle1.cycle_id}).scalar_one() == cycle2.cycle_id
        events = [r.state for r in conn.execute(text("SELECT state FROM cycle_events WHERE cycle_id = :c AND "
                                                     "kind = 'state' ORDER BY event_id"), {"c": cycle1.cycle_id})]
        assert events[:4] == ["scheduled", "cut_off", "cleared", "netted"] and events[-1] == "closed"
    with engine.connect() as conn:
        failed = [ch for ch in verify_ledger(conn, hash_chain=False, extra=(check_cycle_conservation,)) if not ch.ok]
    assert not failed, failed
    # b's event feed tells it each step of both cycles, in order, once (its ledger transactions in between)
    b_events = [e for e in client_b.list_events() if not e.HasField("transaction")]
    instructions_b = [e.subject for e in b_events if e.type.startswith("payment.")]
    assert [(e.type, e.subject) for e in b_events] == [
        ("key.registered", b.key_id), ("statement.issued", statement_b.summary.statement_id),
        ("payment.submitted", instructions_b[0]), ("payment.confirmed", instructions_b[0]),
        ("dispute.resolved", disputed.dispute_id), ("statement.issued", statement_b2.summary.statement_id),
        ("payment.submitted", instructions_b[2]), ("payment.confirmed", instructions_b[2])]
    assert json.loads(b_events[4].detail_json)["outcome"] == "statement_stands"


def record_and_replay(temporal, handle) -> None:
    """Replay the finished cycle's history (with its dispute) and keep it as the replay test's fixture."""
    history: WorkflowHistory = temporal.run(handle.fetch_history())
    temporal.run(Replayer(workflows=[SettlementCycleWorkflow]).replay_workflow(history))
    if not HISTORY.exists():
        HISTORY.parent.mkdir(parents=True, exist_ok=True)
        HISTORY.write_text(json.dumps(json.loads(history.to_json()), indent=1))
