"""The pure core of settlement: obligation rules, rounding, netting, conservation, disputes, statements, the
payment plan and cycle periods."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings, strategies as st

from settlement.domain import obligations as rules
from settlement.domain.disputes import PARTNER_UPHELD, STATEMENT_STANDS, disputed_amount
from settlement.domain.cycles import next_period
from settlement.domain.netting import CarriedIn, HeldAmount, net, net_cycle, settle_position
from settlement.domain.obligations import NETWORK, Flow, Obligation, Terms
from settlement.domain.payment_plan import (ConfirmationTally, InstructionState, PlannedInstruction, confirmed_state,
                                            instruction_id_for, payment_direction, plan_position, tally)
from settlement.domain.statements import (CARRIED_DISPUTE, CarriedAmount, build_statement, canonical_bytes,
                                          statement_lines)

A_PAYS = Terms(1, "a", "issuer_pays", clearing_fee_bps=150, breakage_share_bps=2000)
B_PAYS = Terms(2, "b", "issuer_pays", clearing_fee_bps=200)
C_PRE = Terms(3, "c", "prefunded", issue_price_minor_per_point=Decimal("1.2"),
              redemption_rate_minor_per_point=Decimal("0.9"))
ONE = Decimal(1)


def by_cause(lines: list[Obligation]) -> dict[str, Obligation]:
    return {o.cause: o for o in lines}


def test_issuer_pays_redemption_clears_issuer_to_redeemer_and_charges_the_redeemer_fee():
    lines = by_cause(rules.obligations([Flow("redemption", False, "a", "b", 1000, A_PAYS, B_PAYS)], ONE, "EUR"))
    assert lines["redemption_clearing"] == Obligation("a", "b", 1000, "EUR", "redemption_clearing", "a", "b", 1, 2, 1000)
    assert (lines["redemption_fee"].payer, lines["redemption_fee"].payee, lines["redemption_fee"].amount_minor) == \
        ("b", NETWORK, 20)


def test_own_points_redeemed_clear_to_nothing_but_the_fee():
    lines = rules.obligations([Flow("redemption", False, "a", "a", 1000, A_PAYS, A_PAYS)], ONE, "EUR")
    assert [(o.cause, o.payer, o.payee, o.amount_minor) for o in lines] == [("redemption_fee", "a", NETWORK, 15)]


def test_prefunded_points_are_paid_at_issue_and_reimbursed_by_the_network_at_the_redeemer_rate():
    lines = rules.obligations([Flow("issue", False, "c", None, 500, C_PRE),
                               Flow("redemption", False, "c", "c", 100, C_PRE, C_PRE),
                               Flow("redemption", False, "c", "b", 100, C_PRE, B_PAYS)], ONE, "EUR")
    got = {(o.cause, o.payer, o.payee): o.amount_minor for o in lines}
    assert got == {("prefund_issue", "c", NETWORK): 600, ("prefund_reimburse", NETWORK, "c"): 90,
                   ("prefund_reimburse", NETWORK, "b"): 100}  # b sets no redemption rate: the point value


def test_reversals_are_negative_lines_of_their_own_cause():
    lines = by_cause(rules.obligations([Flow("redemption", True, "a", "b", -300, A_PAYS, B_PAYS),
                                        Flow("issue", True, "c", None, -50, C_PRE)], ONE, "EUR"))
    assert lines["redemption_clearing_reversal"].amount_minor == -300
    assert lines["redemption_fee_reversal"].amount_minor == -6
    assert lines["prefund_issue_reversal"].amount_minor == -60


def test_breakage_share_only_for_issuer_pays_points():
    lines = rules.obligations([Flow("expiry", False, "a", None, 1000, A_PAYS, A_PAYS),
                               Flow("expiry", False, "c", None, 1000, C_PRE, C_PRE)], ONE, "EUR")
    assert [(o.cause, o.payer, o.amount_minor) for o in lines] == [("breakage_share", "a", 200)]


def test_rounding_is_half_even_once_per_line_not_per_event():
    # 0.5% of 1 minor unit per point: 3 events of 100 points would be 0.5 each (rounded per event: 0+0+0 or 1+1+1);
    # aggregated, 300 points -> 1.5 -> 2 (half-even), and 100 points -> 0.5 -> 0
    fee_50 = Terms(9, "f", "issuer_pays", clearing_fee_bps=50)
    assert rules.obligations([Flow("redemption", False, "f", "f", 300, fee_50, fee_50)], ONE, "EUR")[0].amount_minor == 2
    assert rules.obligations([Flow("redemption", False, "f", "f", 100, fee_50, fee_50)], ONE, "EUR") == []
    assert rules.obligations([Flow("redemption", False, "f", "f", 500, fee_50, fee_50)], ONE, "EUR")[0].amount_minor == 2


def test_flows_of_one_line_are_summed_before_rounding():
    fee_50 = Terms(9, "f", "issuer_pays", clearing_fee_bps=50)
    flows = [Flow("redemption", False, "a", "f", 100, A_PAYS, fee_50), Flow("redemption", False, "a", "f", 200, A_PAYS, fee_50)]
    assert by_cause(rules.obligations(flows, ONE, "EUR"))["redemption_fee"].amount_minor == 2


def test_clearing_matrix_counts_points_and_cleared_money():
    flows = [Flow("redemption", False, "a", "b", 1000, A_PAYS, B_PAYS), Flow("redemption", True, "a", "b", -100, A_PAYS, B_PAYS)]
    cells = rules.clearing_matrix(flows, rules.obligations(flows, ONE, "EUR"), "EUR")
    assert [(c.issuer_id, c.redeemer_id, c.points, c.amount_minor) for c in cells] == [("a", "b", 900, 900)]


parties = st.sampled_from(["a", "b", "c", "d", NETWORK])
obligation_strategy = st.builds(
    lambda payer, payee, amount, currency: Obligation(payer, payee if payee != payer else NETWORK if payer != NETWORK else "a",
                                                      amount, currency, "x", "a", None, None, None, 0),
    parties, parties, st.integers(-10**12, 10**12), st.sampled_from(["EUR", "GBP"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(obligation_strategy, max_size=60))
def test_netting_conserves_money_exactly(obligation_list):
    netting = net(obligation_list)
    assert all(v == 0 for v in netting.residual_minor().values())
    assert len({(p.partner_id, p.currency) for p in netting.positions}) == len(netting.positions)
    assert all(p.partner_id != NETWORK for p in netting.positions)


flow_strategy = st.builds(
    Flow, st.sampled_from(["redemption", "issue", "expiry"]), st.booleans(), st.sampled_from(["a", "b", "c"]),
    st.sampled_from(["a", "b", "c"]), st.integers(-10**7, 10**7), st.sampled_from([A_PAYS, B_PAYS, C_PRE]),
    st.sampled_from([A_PAYS, B_PAYS, C_PRE]))


@settings(max_examples=200, deadline=None)
@given(st.lists(flow_strategy, max_size=40), st.sampled_from([Decimal("1"), Decimal("0.5"), Decimal("1.25")]))
def test_cleared_flows_conserve_money_exactly(flows, point_value):
    netting = net(rules.obligations(flows, point_value, "EUR"))
    assert netting.residual_minor().get("EUR", 0) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(flow_strategy, max_size=40), st.sampled_from([Decimal("1"), Decimal("0.5"), Decimal("1.25")]))
def test_clearing_issuer_by_issuer_gives_the_lines_and_cells_of_the_whole_period(flows, point_value):
    whole = rules.obligations(flows, point_value, "EUR")
    lines, cells = [], []
    for issuer in sorted({f.issuer_id for f in flows}):
        own = [f for f in flows if f.issuer_id == issuer]
        own_lines = rules.obligations(own, point_value, "EUR")
        lines += own_lines
        cells += rules.clearing_matrix(own, own_lines, "EUR")
    assert Counter(lines) == Counter(whole)
    assert Counter(cells) == Counter(rules.clearing_matrix(flows, whole, "EUR"))


def test_settle_position_holds_back_open_disputes_and_settles_resolved_carried_amounts():
    settled = settle_position(1000, [HeldAmount("d1", 300)], [HeldAmount("d0", -50, STATEMENT_STANDS),
                                                              HeldAmount("d9", 70), HeldAmount("d8", 20, PARTNER_UPHELD)])
    assert settled.payable_minor == 1000 - 300 - 50
    assert settled.disputed_minor == 300 + 70
    assert [h.dispute_id for h in settled.carried_out] == ["d1", "d9"]
    upheld = settle_position(-500, [HeldAmount("d2", -200, PARTNER_UPHELD)], [])
    assert (upheld.payable_minor, upheld.written_off_minor, upheld.carried_out) == (-300, -200, ())
    stands = settle_position(-500, [HeldAmount("d3", -200, STATEMENT_STANDS)], [])
    assert stands.payable_minor == -500
    assert [payment_direction(v) for v in (1, 0, -1)] == ["payout", None, "collection"]


def test_statement_lines_totals_and_signed_payload():
    obligations = rules.obligations([Flow("redemption", False, "a", "b", 1000, A_PAYS, B_PAYS)], ONE, "EUR")
    lines = statement_lines("b", obligations, [CarriedAmount("dsp-1", 40)])
    assert [(ln.line_number, ln.cause, ln.counterparty, ln.amount_minor) for ln in lines] == [
        (1, "redemption_clearing", "a", 1000), (2, "redemption_fee", NETWORK, -20), (3, CARRIED_DISPUTE, NETWORK, 40)]
    start = datetime(2026, 11, 23, tzinfo=timezone.utc)
    body = build_statement("cyc-20261123-0000", "b", "EUR", (start, start + timedelta(days=1)), start, start, lines)
    assert (body.receivable_minor, body.payable_minor, body.net_minor, body.carried_in_minor) == (1000, -20, 980, 40)
    payload = canonical_bytes(body)
    assert payload.startswith(b"coalition-statement-v1\nstatement_id=stm-cyc-20261123-0000-b-EUR\n")
    assert b"\nline=2|redemption_fee|network|a|b|1000|-20|\n" in payload
    assert payload.endswith(b"net_minor=980\ncarried_in_minor=40")
    key = Ed25519PrivateKey.generate()
    key.public_key().verify(key.sign(payload), payload)  # raises if not


def test_disputed_amount_of_lines():
    obligations = rules.obligations([Flow("redemption", False, "a", "b", 1000, A_PAYS, B_PAYS)], ONE, "EUR")
    lines = statement_lines("b", obligations, [CarriedAmount("dsp-1", 40)])
    assert disputed_amount(lines, [1]) == 1000
    assert disputed_amount(lines, [2]) == -20
    assert disputed_amount(lines, [1], amount_minor=250) == 250
    for bad, kwargs in (([3], {}), ([7], {}), ([], {}), ([1], {"amount_minor": 1001})):
        with pytest.raises(ValueError):
            disputed_amount(lines, bad, **kwargs)


def test_a_cycles_positions_take_in_carried_amounts_and_check_conservation():
    obligations = rules.obligations([Flow("redemption", False, "a", "b", 1000, A_PAYS, B_PAYS)], ONE, "EUR")
    netted = net_cycle(obligations, [CarriedIn("b", "EUR", 40), CarriedIn("d", "EUR", -7)], "EUR")
    assert [(p.partner_id, p.net_minor, p.carried_in_minor) for p in netted.positions] == [
        ("a", -1000, 0), ("b", 980, 40), ("d", 0, -7)]  # d only has a carried amount: a position of net 0
    assert (netted.network_revenue_minor, netted.positions_sum_minor, netted.residual_minor, netted.conserved) == \
        (20, -20, 0, True)
    assert len(netted.netting.positions) == 2  # what the obligations netted, before carried amounts


def test_the_plan_of_a_position_pays_collects_or_does_nothing():
    payout = plan_position("cyc-1", "b", "EUR", 1000, [HeldAmount("d1", 300)], [])
    assert payout.instruction == PlannedInstruction(instruction_id_for("cyc-1", "b", "payout"), "b", "payout", 700, "EUR")
    assert payout.state == "instructed" and payout.settlement.disputed_minor == 300
    collection = plan_position("cyc-1", "a", "EUR", -1000, [], [])
    assert (collection.instruction.direction, collection.instruction.amount_minor) == ("collection", 1000)
    assert instruction_id_for("cyc-1", "a", "collection").startswith("C") and len(collection.instruction.instruction_id) == 33
    nothing = plan_position("cyc-1", "c", "EUR", 300, [HeldAmount("d2", 300)], [])
    assert (nothing.instruction, nothing.state) == (None, "nothing_due")


def test_confirmations_are_matched_and_tallied():
    assert confirmed_state("settled", "", (700, "EUR"), (700, "EUR")) == ("settled", "")
    assert confirmed_state("settled", "", (70, "EUR"), (700, "EUR")) == ("rejected", "confirmed 70 EUR, instructed 700 EUR")
    counted = tally([InstructionState("a", "settled", None), InstructionState("b", "submitted", None),
                     InstructionState("c", "rejected", "MS03"), InstructionState("d", "failed", "bad IBAN")])
    assert counted == ConfirmationTally(1, 1, 1, 1, ("c: MS03", "d: bad IBAN"))


def test_the_next_period_starts_where_the_last_cycle_ended():
    now = datetime(2026, 11, 23, 10, 7, 42, tzinfo=timezone.utc)
    assert next_period(now, 300, None) == (datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc),
                                           datetime(2026, 11, 23, 10, 5, tzinfo=timezone.utc))
    last = datetime(2026, 11, 23, 9, 58, 30, 500, tzinfo=timezone.utc)
    assert next_period(now, 300, last) == (last, datetime(2026, 11, 23, 10, 5, tzinfo=timezone.utc))
    assert next_period(now, 300, datetime(2026, 11, 23, 10, 5, tzinfo=timezone.utc)) is None
