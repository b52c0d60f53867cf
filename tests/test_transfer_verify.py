"""`coalition ledger verify` over transfers: a lot a transfer created is checked against its receiving transaction
and its source lot, and the transfer account against itself; editing any of it fails verify naming the lot."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from network.store.transfers import transfer_points
from network.store.verify import verify_ledger

pytestmark = pytest.mark.usefixtures("verified_ledger")

EDITS = {
    "source lot": "UPDATE lots SET source_lot_id = gen_random_uuid() WHERE lot_id = :new",
    "issuer": "UPDATE lots SET issuer_id = :other WHERE lot_id = :new",
    "expiry": "UPDATE lots SET expires_at = expires_at + interval '1 day' WHERE lot_id = :new",
    "issue instant": "UPDATE lots SET created_at = created_at - interval '1 day' WHERE lot_id = :new",
    "reversed": "UPDATE lots SET state = 'reversed' WHERE lot_id = :new",
    "transfer posting owner": "UPDATE postings SET owner = :other WHERE tx_id = :received AND account = 'transfer'",
    "transfer posting lot": "UPDATE postings SET lot_id = :new WHERE tx_id = :received AND account = 'transfer'",
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_editing_a_transfer_fails_verify_naming_the_lot(engine, make_partner, settings, edit):
    issuer = make_partner("tv", expiry_days=90)
    other = make_partner("tv-other")
    with issuer.client() as network:
        sender, recipient = (network.enroll_member().member.member_id for _ in range(2))
        network.earn(sender, points=500)
    result = transfer_points(engine, sender, recipient, 200, "tv", settings=settings)
    [moved] = result.lots
    with engine.connect() as conn, conn.begin() as transaction:
        try:
            conn.execute(text(EDITS[edit]), {"new": moved.new_lot_id, "other": other.partner_id,
                                             "received": result.journal_ids[1]})
            failed = [c for c in verify_ledger(conn, snapshot=False) if not c.ok]
        finally:
            transaction.rollback()
    assert failed, f"editing the transfer's {edit} went unnoticed"
    assert any(moved.new_lot_id in line or moved.lot_id in line or result.journal_ids[1] in line
               for c in failed for line in c.examples), [c.examples for c in failed]
