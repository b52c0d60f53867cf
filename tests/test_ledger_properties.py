"""Random earn/redeem/hold/capture/void/reverse/expire sequences keep every ledger invariant after each step."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from network.store.contracts import ContractBook
from network.errors import DomainError
from network.core.results import EarnItem, SpendRefs
from network.store.ledger import Ledger
from network.store.verify import CHECKS, verify_ledger

OPS = st.one_of(
    st.tuples(st.just("earn"), st.integers(0, 2), st.integers(0, 1), st.integers(1, 400)),
    st.tuples(st.just("redeem"), st.integers(0, 2), st.integers(0, 1), st.integers(1, 300)),
    st.tuples(st.just("hold"), st.integers(0, 2), st.integers(0, 1), st.integers(1, 300)),
    st.tuples(st.just("capture"), st.integers(0, 5), st.integers(0, 1), st.integers(0, 300)),
    st.tuples(st.just("void"), st.integers(0, 5), st.integers(0, 1), st.integers(0, 0)),
    st.tuples(st.just("reverse"), st.integers(0, 9), st.integers(0, 1), st.integers(0, 200)),
    st.tuples(st.just("time"), st.integers(0, 0), st.integers(0, 0), st.integers(1, 40)),
)


class FakeClock:
    def __init__(self):
        self.now = datetime.now(timezone.utc) + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now


def check_invariants(engine) -> None:
    with engine.connect() as conn:
        failed = [c for c in verify_ledger(conn, hash_chain=False) if not c.ok]
    assert not failed, [(c.name, c.examples) for c in failed]


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=25))
def test_random_sequences_keep_invariants(engine, make_partner, ops):
    expiring = make_partner("prop-a", return_window_seconds=86400, expiry_days=30)
    plain = make_partner("prop-b")
    partners = [expiring.partner_id, plain.partner_id]
    clock = FakeClock()
    ledger = Ledger(engine, ContractBook(engine), point_value_minor=1, network_currency="EUR", shards=16, clock=clock)
    with engine.begin() as conn:
        members = [ledger.enroll_member(conn, partners[0], "", "")[0].member_id for _ in range(3)]
    holds: list[tuple[str, str]] = []
    txs: list[tuple[str, str]] = []
    for step, (op, a, p, n) in enumerate(ops):
        partner = partners[p]
        try:
            with engine.begin() as conn:
                if op == "earn":
                    result = ledger.earn_batch(conn, [(partner, EarnItem(f"r{step}", members[a], None, None, n))])[0]
                    assert not isinstance(result, DomainError)
                    txs.append((partner, result.transaction_id))
                elif op == "redeem":
                    txs.append((partner, ledger.redeem(conn, partner, members[a], n, SpendRefs(), None).transaction_id))
                elif op == "hold":
                    holds.append((partner, ledger.authorize(conn, partner, members[a], n, SpendRefs(), 3600, None).hold_id))
                elif op == "capture" and holds:
                    owner, hold = holds[a % len(holds)]
                    txs.append((owner, ledger.capture(conn, owner, hold, n, None).transaction_id))
                elif op == "void" and holds:
                    owner, hold = holds[a % len(holds)]
                    ledger.void(conn, owner, hold, f"v{step}")  # a partner's void carries its request id
                elif op == "reverse" and txs:
                    owner, tx = txs[a % len(txs)]
                    ledger.reverse(conn, owner, tx, n, "", None)
                elif op == "time":
                    clock.now += timedelta(days=n)
                    ledger.activate_due_lots(conn)
                    ledger.expire_holds(conn)
                    ledger.expire_lots(conn)
        except DomainError as exc:
            assert exc.code.name in ("FAILED_PRECONDITION", "NOT_FOUND", "INVALID_ARGUMENT"), exc
        check_invariants(engine)
    with engine.connect() as conn:
        assert all(c.ok for c in verify_ledger(conn, hash_chain=True))
        for member in members:
            balance = ledger.member_balance(conn, __import__("uuid").UUID(member))
            assert balance.available >= 0 and balance.held >= 0
    assert len(CHECKS) >= 7
