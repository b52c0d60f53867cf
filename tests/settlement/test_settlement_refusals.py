"""Settlement refusals outside a running cycle: an unknown statement over signed gRPC, an unknown dispute through
the operator's resolve path (`coalition settle resolve`), an unknown cycle; exact reason and code, nothing written.
The refusals that need a cycle (dispute window, disputed twice, resolved twice, forged statement) are exercised in
test_settlement_cycle.py."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from network.errors import DomainError
from partners import errors
from partners.client import PartnerClient
from settlement import control, store

SETTLEMENT_TABLES = ("cycles", "statements", "disputes", "carryovers", "cycle_events", "payment_instructions",
                     "operator_actions")


def settlement_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in SETTLEMENT_TABLES}


def test_statement_not_found(engine, make_partner, settlement_target):
    shop = make_partner("stm")
    before = settlement_counts(engine)
    with PartnerClient(settlement_target, shop.key_id, shop.private_key) as client:
        for call in (lambda: client.get_statement("stm-does-not-exist"),
                     lambda: client.acknowledge_statement("stm-does-not-exist"),
                     lambda: client.dispute_statement("stm-does-not-exist", [1], "no such statement")):
            with pytest.raises(errors.NotFound) as refused:
                call()
            assert (refused.value.code.name, refused.value.reason) == ("NOT_FOUND", "STATEMENT_NOT_FOUND")
    assert settlement_counts(engine) == before


def test_dispute_not_found(engine):
    before = settlement_counts(engine)
    with pytest.raises(DomainError) as refused:
        asyncio.run(control.resolve_dispute(None, engine, "dsp-does-not-exist", "statement_stands", "ops@test"))
    assert (refused.value.code.name, refused.value.reason) == ("NOT_FOUND", "DISPUTE_NOT_FOUND")
    assert settlement_counts(engine) == before


def test_cycle_not_found(engine):
    before = settlement_counts(engine)
    with pytest.raises(DomainError) as refused, engine.begin() as conn:
        store.cycles.lock(conn, "cycle-does-not-exist")
    assert (refused.value.code.name, refused.value.reason) == ("NOT_FOUND", "CYCLE_NOT_FOUND")
    assert settlement_counts(engine) == before
