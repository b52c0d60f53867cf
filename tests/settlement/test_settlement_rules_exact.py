"""settlement.domain to the exact outcome: whole obligation lines and clearing cells, the sort order of lines,
settling a position with several disputes of each outcome, statement bodies, dispute ids, amounts and windows,
cycle ids. Pure (no Temporal, no database). Written to kill the mutants `coalition mutate` found surviving."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from settlement.domain import obligations as rules
from settlement.domain.cycles import RESPONSE_STATE, cycle_id_for
from settlement.domain.disputes import PARTNER_UPHELD, STATEMENT_STANDS, dispute_id_for, disputed_amount, \
    response_window_closed
from settlement.domain.netting import CarriedIn, CyclePosition, HeldAmount, PositionSettlement, net_cycle, \
    settle_position
from settlement.domain.obligations import NETWORK, ClearingCell, Flow, Obligation, Terms
from settlement.domain.payment_plan import PositionPlan, instruction_id_for, plan_position
from settlement.domain.statements import CARRIED_DISPUTE, StatementBody, StatementLine, build_statement, rfc3339

ONE = Decimal(1)
A_PAYS = Terms(1, "a", "issuer_pays", clearing_fee_bps=150, breakage_share_bps=2000)
B_PAYS = Terms(2, "b", "issuer_pays", clearing_fee_bps=200)
C_PRE = Terms(3, "c", "prefunded", issue_price_minor_per_point=Decimal("1.2"))
T0 = datetime(2026, 11, 23, tzinfo=timezone.utc)


# --- obligations ---------------------------------------------------------------------------------------------

def test_prefund_issue_and_breakage_lines_are_exact():
    a_later = Terms(7, "a", "issuer_pays", breakage_share_bps=5000)  # the contract in force at the expiry
    lines = rules.obligations([Flow("issue", False, "c", None, 500, C_PRE),
                               Flow("expiry", False, "a", None, 1000, A_PAYS, a_later),
                               Flow("expiry", True, "a", None, -10, A_PAYS)], ONE, "EUR")
    assert lines == [Obligation("a", NETWORK, 500, "EUR", "breakage_share", "a", None, 7, None, 1000),
                     Obligation("a", NETWORK, -2, "EUR", "breakage_share_reversal", "a", None, 1, None, -10),
                     Obligation("c", NETWORK, 600, "EUR", "prefund_issue", "c", None, 3, None, 500)]


def test_lines_of_one_cause_and_parties_are_ordered_by_contract_versions():
    a_v0, a_v1 = Terms(0, "a", "issuer_pays"), Terms(1, "a", "issuer_pays")
    b_v0, b_v1 = Terms(0, "b", "issuer_pays"), Terms(1, "b", "issuer_pays")
    flows = [Flow("redemption", False, "a", "b", 10, a_v1, b_v1), Flow("redemption", False, "a", "b", 20, a_v1, b_v0),
             Flow("redemption", False, "a", "b", 30, a_v0, b_v1)]
    lines = rules.obligations(flows, ONE, "EUR")
    assert [(o.cause, o.issuer_contract_id, o.redeemer_contract_id, o.amount_minor) for o in lines] == [
        ("redemption_clearing", 0, 1, 30), ("redemption_clearing", 1, 0, 20), ("redemption_clearing", 1, 1, 10)]


@pytest.mark.parametrize("redeemer_id, event_terms", [(None, B_PAYS), ("b", None)])
def test_a_redemption_flow_must_name_its_redeemer_and_its_terms(redeemer_id, event_terms):
    with pytest.raises(AssertionError, match=r"^a redemption flow names its redeemer's terms$"):
        rules.obligations([Flow("redemption", False, "a", redeemer_id, 10, A_PAYS, event_terms)], ONE, "EUR")


def test_an_unknown_flow_kind_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^unknown flow kind 'gift'$"):
        rules.obligations([Flow("gift", False, "a", None, 10, A_PAYS)], ONE, "EUR")


def test_clearing_matrix_cells_are_exact():
    flows = [Flow("redemption", False, "a", "a", 100, A_PAYS, A_PAYS),  # own points: points, no money cleared
             Flow("redemption", False, "a", "b", 40, A_PAYS, B_PAYS),
             Flow("redemption", False, "x", None, 5, A_PAYS, B_PAYS),  # no redeemer: no cell
             Flow("expiry", False, "a", "b", 9, A_PAYS, A_PAYS)]  # not a redemption: no cell
    lines = rules.obligations(flows[:2], ONE, "EUR") + [
        Obligation("d", "e", 7, "EUR", "redemption_clearing", "d", "e", 1, 2, 7)]  # money without counted points
    assert rules.clearing_matrix(flows, lines, "EUR") == [ClearingCell("a", "a", "EUR", 100, 0),
                                                          ClearingCell("a", "b", "EUR", 40, 40),
                                                          ClearingCell("d", "e", "EUR", 0, 7)]


# --- netting -------------------------------------------------------------------------------------------------

def test_cycle_positions_are_exact():
    lines = [Obligation("a", "b", 100, "EUR", "redemption_clearing", "a", "b", 1, 2, 100)]
    netted = net_cycle(lines, [CarriedIn("b", "EUR", 5), CarriedIn("d", "EUR", -3)], "EUR")
    assert netted.positions == (CyclePosition("a", "EUR", -100, 0), CyclePosition("b", "EUR", 100, 5),
                                CyclePosition("d", "EUR", 0, -3))


def test_an_empty_cycle_has_no_revenue_and_is_conserved():
    netted = net_cycle([], [], "EUR")
    assert (netted.positions, netted.network_revenue_minor, netted.positions_sum_minor, netted.residual_minor,
            netted.conserved) == ((), 0, 0, 0, True)


def test_settle_position_with_several_disputes_of_each_outcome():
    disputes = [HeldAmount("s1", 11, STATEMENT_STANDS), HeldAmount("u1", 13, PARTNER_UPHELD),
                HeldAmount("u2", 17, PARTNER_UPHELD), HeldAmount("o1", 19), HeldAmount("o2", 23)]
    carried = [HeldAmount("cs1", 29, STATEMENT_STANDS), HeldAmount("cs2", 31, STATEMENT_STANDS),
               HeldAmount("cu", 37, PARTNER_UPHELD), HeldAmount("co", 41)]
    assert settle_position(1000, disputes, carried) == PositionSettlement(
        payable_minor=1000 - 13 - 17 - 19 - 23 + 29 + 31, disputed_minor=19 + 23 + 41, written_off_minor=13 + 17,
        carried_in_minor=29 + 31, carried_out=(disputes[3], disputes[4], carried[3]))
    assert settle_position(5, [], []) == PositionSettlement(5, 0, 0, 0, ())


# --- payment plan --------------------------------------------------------------------------------------------

def test_instruction_ids_are_exact():
    digest = hashlib.sha256(b"cyc-1|b|payout").hexdigest()[:32]
    assert instruction_id_for("cyc-1", "b", "payout") == "P" + digest
    collection = hashlib.sha256(b"cyc-1|b|collection").hexdigest()[:32]
    assert instruction_id_for("cyc-1", "b", "collection") == "C" + collection


def test_a_position_with_nothing_due_keeps_its_settlement():
    plan = plan_position("cyc-1", "c", "EUR", 300, [HeldAmount("d2", 300)], [])
    assert plan == PositionPlan(PositionSettlement(0, 300, 0, 0, (HeldAmount("d2", 300),)), None)


# --- disputes ------------------------------------------------------------------------------------------------

def line(n: int, amount: int, cause: str = "redemption_clearing") -> StatementLine:
    return StatementLine(n, cause, "a", "a", "b", 10, amount)


def test_dispute_id_is_exact():
    assert dispute_id_for("stm-1") == "dsp-" + hashlib.sha256(b"stm-1").hexdigest()[:24]
    assert len(dispute_id_for("stm-1")) == 28


def test_disputed_amount_sums_lines_and_keeps_the_sign():
    lines = [line(1, 3), line(2, 4), line(3, -10), line(4, 1), line(5, -1)]
    assert disputed_amount(lines, [1, 2]) == 7
    assert disputed_amount(lines, [1, 2], 1) == 1
    assert disputed_amount(lines, [1, 2], 7) == 7
    assert disputed_amount(lines, [3], 4) == -4
    assert disputed_amount(lines, [4], 1) == 1
    assert disputed_amount(lines, [5], 1) == -1


@pytest.mark.parametrize("numbers, amount, message", [
    ([], 0, "name at least one line"),
    ([9], 0, "line 9 is not on this statement"),
    ([6], 0, "line 6 is an amount already in dispute"),
    ([1, 3], 0, "the disputed lines add up to nothing"),
    ([1], 11, "amount_minor must be between 1 and 10, the disputed lines' total"),
    ([1], -1, "amount_minor must be between 1 and 10, the disputed lines' total"),
])
def test_disputed_amount_refusals_are_exact(numbers, amount, message):
    lines = [line(1, 10), line(2, 1), line(3, -10), line(6, 5, CARRIED_DISPUTE)]
    with pytest.raises(ValueError) as caught:
        disputed_amount(lines, numbers, amount)
    assert str(caught.value) == message


def test_a_line_total_of_one_can_be_disputed():
    assert disputed_amount([line(1, 1)], [1]) == 1


@pytest.mark.parametrize("statement_state, cycle_state, now, closed", [
    ("issued", RESPONSE_STATE, T0 - timedelta(microseconds=1), False),
    ("issued", RESPONSE_STATE, T0, True),
    ("issued", "settling", T0 - timedelta(days=1), True),
    ("acknowledged", RESPONSE_STATE, T0 + timedelta(days=1), False),
    ("acknowledged", "settling", T0 + timedelta(days=1), False),
    ("disputed", RESPONSE_STATE, T0 - timedelta(days=1), False),
])
def test_response_window(statement_state, cycle_state, now, closed):
    assert response_window_closed(statement_state, cycle_state, T0, now) is closed


# --- cycles and statements -----------------------------------------------------------------------------------

@pytest.mark.parametrize("start, expected", [
    (datetime(2026, 11, 23, tzinfo=timezone.utc), "cyc-20261123-0000"),
    (datetime(2026, 11, 23, 9, 5, tzinfo=timezone.utc), "cyc-20261123-0905"),
    (datetime(2026, 11, 23, 9, 5, 30, tzinfo=timezone.utc), "cyc-20261123-090530"),
    (datetime(2026, 11, 23, 9, 5, 0, 250000, tzinfo=timezone.utc), "cyc-20261123-090500.250000"),
    (datetime(2026, 11, 23, 9, 5, 30, 250000, tzinfo=timezone.utc), "cyc-20261123-090530.250000"),
    (datetime(2026, 11, 23, 10, 5, tzinfo=timezone(timedelta(hours=1))), "cyc-20261123-0905"),
])
def test_cycle_ids(start, expected):
    assert cycle_id_for(start) == expected


def test_statement_body_is_exact():
    lines = [line(1, 1), line(2, 5), line(3, -2), line(4, 0), StatementLine(5, CARRIED_DISPUTE, NETWORK, "", "", 0, 9,
                                                                            "dsp-x")]
    body = build_statement("cyc-1", "b", "EUR", (T0, T0 + timedelta(days=1)), T0 + timedelta(hours=1),
                           T0 + timedelta(days=2), lines)
    assert body == StatementBody("stm-cyc-1-b-EUR", "cyc-1", "b", "EUR", T0, T0 + timedelta(days=1),
                                 T0 + timedelta(hours=1), T0 + timedelta(days=2), tuple(lines), 6, -2, 4, 9)
    assert lines[4].as_dict() == {"line_number": 5, "cause": CARRIED_DISPUTE, "counterparty": NETWORK,
                                  "issuer_id": "", "redeemer_id": "", "points": 0, "amount_minor": 9,
                                  "dispute_id": "dsp-x"}


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_rfc3339_is_utc_whatever_the_local_zone(new_york):
    assert rfc3339(datetime(2026, 11, 23, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2)))) == \
        "2026-11-22T23:02:03.000004Z"
    assert rfc3339(T0) == "2026-11-23T00:00:00.000000Z"


def test_statement_lines_are_exact():
    from settlement.domain.statements import CarriedAmount, statement_lines

    obligations = [Obligation("x", "y", 5, "EUR", "redemption_clearing", "x", "y", 1, 2, 5),  # not b's
                   Obligation("b", NETWORK, 200, "EUR", "breakage_share", "b", None, 4, None, 1000),
                   Obligation("a", "b", 30, "EUR", "redemption_clearing", "a", "b", 1, 2, 30)]
    lines = statement_lines("b", obligations, [CarriedAmount("dsp-z", -4), CarriedAmount("dsp-a", 6)])
    assert lines == [StatementLine(1, "breakage_share", NETWORK, "b", "", 1000, -200),
                     StatementLine(2, "redemption_clearing", "a", "a", "b", 30, 30),
                     StatementLine(3, CARRIED_DISPUTE, NETWORK, "", "", 0, 6, "dsp-a"),
                     StatementLine(4, CARRIED_DISPUTE, NETWORK, "", "", 0, -4, "dsp-z")]


def test_cycle_id_is_of_the_utc_start_whatever_the_local_zone(new_york):
    assert cycle_id_for(datetime(2026, 11, 23, 10, 5, tzinfo=timezone(timedelta(hours=1)))) == "cyc-20261123-0905"
    assert cycle_id_for(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)) == "cyc-20261123-0200"
