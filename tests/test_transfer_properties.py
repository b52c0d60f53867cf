"""Random sequences of earns, transfers and redemptions among three members (hypothesis): every outcome is the
model's (a transfer or redemption is refused exactly when it asks for more than the balance, a transfer to oneself
always), balances follow the model, points never leave their issuer (each issuer's outstanding points are the
members' points of its lots), and the ledger's invariants hold after every example."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import text

from network.core.results import EarnItem, SpendRefs
from network.errors import DomainError
from network.store import verify
from network.store.contracts import ContractBook
from network.store.ledger import Ledger
from network.store.transfers import transfer_points

pytestmark = pytest.mark.slow

MEMBERS, PARTNERS = 3, 3
operation = st.one_of(
    st.tuples(st.just("earn"), st.integers(0, MEMBERS - 1), st.integers(0, PARTNERS - 1), st.integers(1, 300)),
    st.tuples(st.just("transfer"), st.integers(0, MEMBERS - 1), st.integers(0, MEMBERS - 1), st.integers(1, 400)),
    st.tuples(st.just("redeem"), st.integers(0, MEMBERS - 1), st.integers(0, PARTNERS - 1), st.integers(1, 400)),
)
CHECKS = (verify.check_postings_balance, verify.check_lot_state, verify.check_balances, verify.check_liabilities,
          verify.check_lot_terms, verify.check_lot_states, verify.check_events, verify.check_transfers_arrive)


def test_random_transfers_keep_every_invariant(engine, settings, make_partner, verified_ledger):
    partners = [make_partner("prop", expiry_days=30 * (i + 1)).partner_id for i in range(PARTNERS)]
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=Decimal(1), network_currency="EUR",
                    shards=settings.ledger_shards)
    unlimited = settings.model_copy(update={"transfer_min_points": 1, "transfer_max_points_per_day": 0,
                                            "transfer_max_points_per_month": 0, "transfer_max_per_day": 0})

    @hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(operation, min_size=1, max_size=12))
    def run(operations):
        with engine.begin() as conn:
            members = [ledger.enroll_member(conn, partners[0], "", "")[0].member_id for _ in range(MEMBERS)]
        balance = [0] * MEMBERS
        for op in operations:
            if op[0] == "earn":
                _, m, p, points = op
                with engine.begin() as conn:
                    ledger.earn_batch(conn, [(partners[p], EarnItem(uuid.uuid4().hex, members[m], None, None, points))])
                balance[m] += points
            elif op[0] == "transfer":
                _, a, b, points = op
                expected = "TRANSFER_TO_SELF" if a == b else "INSUFFICIENT_POINTS" if points > balance[a] else None
                try:
                    result = transfer_points(engine, members[a], members[b], points, uuid.uuid4().hex,
                                             settings=unlimited)
                except DomainError as error:
                    assert error.reason == expected, (op, balance)
                else:
                    assert expected is None, (op, balance)
                    assert sum(m.points for m in result.lots) == points
                    balance[a] -= points
                    balance[b] += points
            else:
                _, m, p, points = op
                try:
                    with engine.begin() as conn:
                        ledger.redeem(conn, partners[p], members[m], points, SpendRefs(), None)
                except DomainError as error:
                    assert error.reason == "INSUFFICIENT_POINTS" and points > balance[m], (op, balance)
                else:
                    assert points <= balance[m], (op, balance)
                    balance[m] -= points
            with engine.connect() as conn:
                shown = [ledger.member_balance(conn, uuid.UUID(member)).available for member in members]
                assert shown == balance, (op, shown, balance)
                # every lot of these members is one of the three issuers', and their points are all of them
                by_issuer = dict(conn.execute(text(
                    "SELECT issuer_id, sum(remaining) FROM lots WHERE member_id IN :ms GROUP BY issuer_id")
                    .bindparams(ms=tuple(uuid.UUID(x) for x in members))).all()) if any(balance) else {}
                assert set(by_issuer) <= set(partners) and sum(by_issuer.values(), 0) == sum(balance)
        with engine.connect() as conn:
            failed = [c for c in (check(conn) for check in CHECKS) if not c.ok]
        assert not failed, [(c.name, c.examples) for c in failed]

    run()
