"""A hypothesis state machine over the signed gRPC API: random valid-shaped calls from three
partners (enroll, earn, redeem, authorize / capture / void, reverse an earn or a redemption, balance), refused ones
included, against a small reference model of the ledger written from docs/money-model.md:

- a lot per earn; a partner with a return window issues pending lots, which are never spendable;
- spending takes lots oldest first (no lot here expires), a hold moves points out of the spendable balance and a
  capture takes its allocations in order, releasing the rest;
- reversing an earn takes back that earn's own unspent points; reversing a redemption (or a capture) returns the
  consumed points to the lots they came from, in proportion (largest remainder, ties to the earlier lot).

After every step: the outcome (result or exact refusal reason) is the model's, a refusal wrote nothing, no call
ended INTERNAL or UNKNOWN, every receipt verifies under the network's published keys, and every member's
available, pending and held points are the model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (Bundle, RuleBasedStateMachine, initialize, invariant, multiple, precondition, rule,
                                 run_state_machine_as_test)
from sqlalchemy import text

from network.store import credentials
from partners import errors, signing
from partners.client import full_method
from test_network_refusals import snapshot
from test_rule_boundaries import proportional

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("verified_ledger")]

NEVER = {"INTERNAL", "UNKNOWN"}
PIN = "2580"  # every member's spending PIN: the machine spends at any partner (consent is tests/test_consent.py's)


@dataclass
class Lot:
    seq: int
    issuer: int
    points: int
    remaining: int          # spendable (or pending) points still on the member's side
    pending: bool
    earn_tx_id: str
    reversed_points: int = 0


@dataclass
class Member:
    member_id: str
    enrolled_by: int
    lots: list[Lot] = field(default_factory=list)


@dataclass
class Spend:
    """A redemption or a capture: the points it took from each lot (lot order), less what was returned."""
    tx_id: str
    partner: int
    member: Member
    consumed: dict[int, int]


@dataclass
class Hold:
    hold_id: str
    partner: int
    member: Member
    allocations: list[tuple[Lot, int]]
    open: bool = True


@dataclass
class Earned:
    tx_id: str
    partner: int
    member: Member
    lot: Lot


class Refused(Exception):
    def __init__(self, code: str, reason: str):
        super().__init__(f"{code} {reason}")
        self.code, self.reason = code, reason


class World:
    """What lives across examples: the partners (P0, P1 instant; P2 with a return window), their clients, the
    network's receipt keys."""

    def __init__(self, make_partner, engine):
        self.engine = engine
        self.partners = [make_partner("sm0"), make_partner("sm1"), make_partner("sm2", return_window_seconds=86400)]
        self.clients = [p.client(max_attempts=1) for p in self.partners]
        keys = self.clients[0].get_network_keys().keys
        self.network_keys = {k.key_id: signing.public_key_from_raw(k.public_key) for k in keys}

    def close(self) -> None:
        for client in self.clients:
            client.close()


class LedgerMachine(RuleBasedStateMachine):
    members = Bundle("members")
    earns = Bundle("earns")
    spends = Bundle("spends")
    holds = Bundle("holds")

    def __init__(self, world: World):
        super().__init__()
        self.world = world
        self.all_members: list[Member] = []
        self.all_holds: list[Hold] = []
        self.lot_seq = 0

    # --- calling and checking ------------------------------------------------------------------------------

    def call(self, partner: int, method: str, action, expected: Refused | None):
        """Run one SDK call; compare its outcome with the model's; a refusal must write nothing; a success's
        receipt must verify."""
        client = self.world.clients[partner]
        before = snapshot(self.world.engine) if expected else None
        try:
            result = action(client)
        except errors.CoalitionError as exc:
            assert exc.code.name not in NEVER, f"{method} ended {exc.code.name}: {exc}"
            assert expected is not None, f"{method} refused {exc.code.name} {exc.reason}, the model accepts it"
            assert (exc.code.name, exc.reason) == (expected.code, expected.reason), (method, exc)
            assert snapshot(self.world.engine) == before, f"refused {method} wrote something"
            return None
        assert expected is None, f"{method} accepted, the model refuses it: {expected}"
        if method:  # mutating: the receipt covers exactly this exchange
            receipt = client.last_receipt
            assert receipt is not None and receipt.method == full_method(method)
            assert signing.verify_receipt(receipt.trailing_metadata(), receipt.method, receipt.request_bytes,
                                          receipt.response_bytes, self.world.network_keys.__getitem__)
        return result

    # --- the model's rules ---------------------------------------------------------------------------------

    @staticmethod
    def spendable(member: Member) -> list[Lot]:
        return [lot for lot in sorted(member.lots, key=lambda lot: lot.seq) if not lot.pending and lot.remaining > 0]

    def allocate(self, member: Member, points: int) -> list[tuple[Lot, int]] | Refused:
        lots = self.spendable(member)
        if points > sum(lot.remaining for lot in lots):
            return Refused("FAILED_PRECONDITION", "INSUFFICIENT_POINTS")
        taken, left = [], points
        for lot in lots:
            take = min(left, lot.remaining)
            if take:
                taken.append((lot, take))
            left -= take
        return taken

    # --- rules ---------------------------------------------------------------------------------------------

    @initialize(target=members, partner=st.integers(0, 2))
    def first_member(self, partner):
        return self.enroll(partner)

    @precondition(lambda self: len(self.all_members) < 4)
    @rule(target=members, partner=st.integers(0, 2))
    def enroll(self, partner):
        response = self.call(partner, "EnrollMember", lambda c: c.enroll_member(), None)
        member = Member(response.member.member_id, partner)
        with self.world.engine.begin() as conn:  # spends at every partner carry the member's PIN (consent)
            credentials.set_pin(conn, member.member_id, PIN, params=credentials.ScryptParams(2**10, 8, 1))
        self.all_members.append(member)
        return member

    @rule(target=earns, member=members, partner=st.integers(0, 2), points=st.integers(1, 200))
    def earn(self, member, partner, points):
        response = self.call(partner, "Earn", lambda c: c.earn(member.member_id, points=points), None)
        self.lot_seq += 1
        lot = Lot(self.lot_seq, partner, points, points, (partner == 2), response.transaction_id)
        member.lots.append(lot)
        return Earned(response.transaction_id, partner, member, lot)

    def spend_points(self, data, member: Member) -> int:
        """Mostly what the member can spend, sometimes a little more (refused)."""
        available = sum(lot.remaining for lot in self.spendable(member))
        if available and data.draw(st.integers(0, 4)):
            return data.draw(st.integers(1, available))
        return available + data.draw(st.integers(1, 3))

    def anything_to_spend(self) -> bool:
        return any(self.spendable(member) for member in self.all_members)

    @precondition(anything_to_spend)
    @rule(target=spends, member=members, partner=st.integers(0, 2), data=st.data())
    def redeem(self, member, partner, data):
        points = self.spend_points(data, member)
        plan = self.allocate(member, points)
        expected = plan if isinstance(plan, Refused) else None
        response = self.call(partner, "Redeem", lambda c: c.redeem(member.member_id, points, pin=PIN), expected)
        if response is None:
            return multiple()
        assert response.points == points
        for lot, take in plan:
            lot.remaining -= take
        return Spend(response.transaction_id, partner, member, {lot.seq: take for lot, take in plan})

    @precondition(anything_to_spend)
    @rule(target=holds, member=members, partner=st.integers(0, 2), data=st.data())
    def authorize(self, member, partner, data):
        points = self.spend_points(data, member)
        plan = self.allocate(member, points)
        expected = plan if isinstance(plan, Refused) else None
        response = self.call(partner, "AuthorizeRedemption",
                             lambda c: c.authorize_redemption(member.member_id, points, pin=PIN), expected)
        if response is None:
            return multiple()
        for lot, take in plan:
            lot.remaining -= take
        hold = Hold(response.hold_id, partner, member, plan)
        self.all_holds.append(hold)
        return hold

    @rule(target=spends, hold=holds, partner=st.sampled_from([0, 1, 2, None]), data=st.data())
    def capture(self, hold, partner, data):
        partner = hold.partner if partner is None else partner  # mostly the hold's own partner
        total = sum(take for _, take in hold.allocations)
        points = data.draw(st.integers(0, total + 2))
        if partner != hold.partner:
            expected = Refused("PERMISSION_DENIED", "NOT_YOUR_HOLD")
        elif not hold.open:
            expected = Refused("FAILED_PRECONDITION", "HOLD_NOT_OPEN")
        elif points > total:
            expected = Refused("FAILED_PRECONDITION", "CAPTURE_EXCEEDS_HOLD")
        else:
            expected = None
        response = self.call(partner, "CaptureRedemption", lambda c: c.capture_redemption(hold.hold_id, points),
                             expected)
        if response is None:
            return multiple()
        hold.open = False
        left, consumed = points or total, {}
        for lot, take in hold.allocations:  # captured in allocation order, the rest released
            used = min(left, take)
            if used:
                consumed[lot.seq] = used
            lot.remaining += take - used
            left -= used
        return Spend(response.transaction_id, partner, hold.member, consumed)

    @rule(hold=holds, partner=st.sampled_from([0, 1, 2, None]))
    def void(self, hold, partner):
        partner = hold.partner if partner is None else partner
        if partner != hold.partner:
            expected = Refused("PERMISSION_DENIED", "NOT_YOUR_HOLD")
        elif not hold.open:
            expected = Refused("FAILED_PRECONDITION", "HOLD_NOT_OPEN")
        else:
            expected = None
        if self.call(partner, "VoidRedemption", lambda c: c.void_redemption(hold.hold_id), expected) is not None:
            hold.open = False
            for lot, take in hold.allocations:
                lot.remaining += take

    @rule(earned=earns, partner=st.sampled_from([0, 1, 2, None]), data=st.data())
    def reverse_earn(self, earned, partner, data):
        partner = earned.partner if partner is None else partner
        lot = earned.lot
        reversible = lot.points - lot.reversed_points
        points = data.draw(st.integers(0, reversible + 2))
        if reversible == 0 and points == 0:
            points = 1  # "all of nothing" is test_refusal_reasons.py's test_a_fully_reversed_earn_is_not_reversed_again
        amount = points or reversible
        if partner != earned.partner:
            expected = Refused("PERMISSION_DENIED", "NOT_YOUR_TRANSACTION")
        elif amount > reversible or reversible == 0:
            expected = Refused("FAILED_PRECONDITION", "EXCEEDS_REVERSIBLE")
        elif amount > lot.remaining:
            expected = Refused("FAILED_PRECONDITION", "POINTS_ALREADY_SPENT")
        else:
            expected = None
        response = self.call(partner, "Reverse", lambda c: c.reverse(earned.tx_id, points), expected)
        if response is not None:  # what can still be reversed now: only points still unspent
            assert (response.points, response.remaining_reversible_points) == (
                amount, min(reversible, lot.remaining) - amount)
            lot.remaining -= amount
            lot.reversed_points += amount

    @rule(spend=spends, partner=st.sampled_from([0, 1, 2, None]), data=st.data())
    def reverse_spend(self, spend, partner, data):
        partner = spend.partner if partner is None else partner
        parts = sorted((seq, n) for seq, n in spend.consumed.items() if n > 0)  # lot order
        reversible = sum(n for _, n in parts)
        points = data.draw(st.integers(0, reversible + 2))
        amount = points or reversible
        if partner != spend.partner:
            expected = Refused("PERMISSION_DENIED", "NOT_YOUR_TRANSACTION")
        elif amount > reversible or reversible == 0:
            expected = Refused("FAILED_PRECONDITION", "EXCEEDS_REVERSIBLE")
        else:
            expected = None
        response = self.call(partner, "Reverse", lambda c: c.reverse(spend.tx_id, points), expected)
        if response is None:
            return
        assert (response.points, response.remaining_reversible_points) == (amount, reversible - amount)
        lots = {lot.seq: lot for lot in spend.member.lots}
        for (seq, _), share in zip(parts, proportional([n for _, n in parts], amount)):
            lots[seq].remaining += share
            spend.consumed[seq] -= share

    @rule(hold=holds)
    def reverse_a_hold(self, hold):
        """A hold is a transaction, but not a reversible one."""
        self.call(hold.partner, "Reverse", lambda c: c.reverse(hold.hold_id),
                  Refused("FAILED_PRECONDITION", "NOT_REVERSIBLE"))

    # --- after every step ----------------------------------------------------------------------------------

    @invariant()
    def balances_are_the_models(self):
        for member in self.all_members:
            balance = self.call(member.enrolled_by, "", lambda c: c.get_balance(member.member_id), None)
            held = sum(take for hold in self.all_holds if hold.open and hold.member is member
                       for _, take in hold.allocations)
            expected = (sum(lot.remaining for lot in member.lots if not lot.pending),
                        sum(lot.remaining for lot in member.lots if lot.pending), held)
            assert (balance.available_points, balance.pending_points, balance.held_points) == expected, member

    @invariant()
    def every_lot_is_the_models(self):
        """Which lot holds which points (what a proportional return, a capture's order and an earn reversal
        change), read from the lots table."""
        held: dict[str, int] = {}
        for hold in self.all_holds:
            for lot, take in hold.allocations if hold.open else ():
                held[lot.earn_tx_id] = held.get(lot.earn_tx_id, 0) + take
        expected = {lot.earn_tx_id: (lot.remaining, held.get(lot.earn_tx_id, 0))
                    for member in self.all_members for lot in member.lots}
        with self.world.engine.connect() as conn:
            stored = {str(r.earn_tx_id): (r.remaining, r.held) for r in conn.execute(
                text("SELECT earn_tx_id, remaining, held FROM lots WHERE member_id = ANY(CAST(:m AS uuid[]))"),
                {"m": [m.member_id for m in self.all_members]})}
        assert stored == expected


def test_random_traffic_matches_the_reference_model(make_partner, engine):
    world = World(make_partner, engine)
    try:
        run_state_machine_as_test(
            lambda: LedgerMachine(world),
            settings=settings(max_examples=60, stateful_step_count=30, deadline=None, database=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        world.close()
