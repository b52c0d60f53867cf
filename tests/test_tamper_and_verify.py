"""`coalition ledger verify` finds an edited history and a broken balance."""

from __future__ import annotations

from sqlalchemy import text

from network.store.verify import verify_ledger


def failing(engine) -> set[str]:
    with engine.connect() as conn:
        return {c.name for c in verify_ledger(conn) if not c.ok}


def test_verify_detects_edits(engine, make_partner):
    shop = make_partner("tamper")
    with shop.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, points=50)
    assert failing(engine) == set()
    with engine.begin() as conn:
        conn.execute(text("UPDATE postings SET points = points + 1 WHERE tx_id = :t AND account = 'member'"),
                     {"t": earned.transaction_id})
    broken = failing(engine)
    assert {"postings of every transaction sum to zero", "journal hash chain is intact (tamper evidence)",
            "lot remaining and held rebuild from the journal"} <= broken
    with engine.begin() as conn:  # undo, so the session's shared ledger verifies again
        conn.execute(text("UPDATE postings SET points = points - 1 WHERE tx_id = :t AND account = 'member'"),
                     {"t": earned.transaction_id})
    with engine.begin() as conn:
        conn.execute(text("UPDATE journal SET points = 51 WHERE tx_id = :t"), {"t": earned.transaction_id})
    # the journal row is hashed; the lot's points are a copy of the earn's, checked against it
    assert failing(engine) == {"journal hash chain is intact (tamper evidence)",
                               "every lot's fixed columns match the earn or transfer that created it"}
    with engine.begin() as conn:
        conn.execute(text("UPDATE journal SET points = 50 WHERE tx_id = :t"), {"t": earned.transaction_id})
    assert failing(engine) == set()
