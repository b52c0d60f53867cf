"""Every column of every history table is under the hash chain or derived from hashed data.

Each column of journal, postings, lots, holds, hold_allocations and hold_members (read from the database catalogue,
so a new column cannot escape) is edited in turn inside a transaction; `coalition ledger verify`'s checks, run in that
transaction, must fail naming the edited row and the column's class (hashed, linked or derived); the transaction is
then rolled back, which restores the row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from network.core import ledger
from network.models import Base
from network.store import journal
from network.store.verify import DERIVED, HASHED, LINKED, verify_ledger

pytestmark = pytest.mark.usefixtures("verified_ledger")

HISTORY_TABLES = ("journal", "postings", "lots", "holds", "hold_allocations", "hold_members")

# The class of each column verify must name when it changes; a table's default first, then the exceptions.
TABLE_CLASS = {"journal": HASHED, "postings": HASHED, "lots": LINKED, "holds": LINKED, "hold_allocations": DERIVED,
               "hold_members": LINKED}
COLUMN_CLASS = {("lots", "remaining"): DERIVED, ("lots", "held"): DERIVED, ("lots", "state"): DERIVED,
                ("lots", "available_at"): HASHED, ("lots", "expires_at"): HASHED,
                ("holds", "state"): DERIVED, ("holds", "expires_at"): HASHED, ("postings", "member_id"): LINKED}

# Edits a type-based rule cannot make (check constraints, unique keys): SQL expressions for the new value.
SPECIAL_EDITS = {
    ("journal", "kind"): "'adjust'",
    ("journal", "hash_version"): "3 - hash_version",
    ("journal", "shard"): "9999",
    ("journal", "seq"): "seq + 1000000",
    ("postings", "line"): "line + 100",
    ("hold_allocations", "line"): "line + 100",
    ("lots", "state"): "'expired'",  # the lot still holds points
    ("holds", "state"): "'captured'",  # the hold is open: nothing captured it
}


def catalogue_columns(engine) -> dict[str, dict[str, tuple[str, int | None]]]:
    """table -> column -> (data type, character maximum length), from information_schema."""
    found: dict[str, dict[str, tuple[str, int | None]]] = {t: {} for t in HISTORY_TABLES}
    with engine.connect() as conn:
        for r in conn.execute(text("SELECT table_name, column_name, data_type, character_maximum_length "
                                   "FROM information_schema.columns WHERE table_schema = current_schema() "
                                   "AND table_name = ANY(:t)"), {"t": list(HISTORY_TABLES)}):
            found[r.table_name][r.column_name] = (r.data_type, r.character_maximum_length)
    return found


def edit_expression(table: str, column: str, data_type: str, length: int | None) -> str:
    if (table, column) in SPECIAL_EDITS:
        return SPECIAL_EDITS[(table, column)]
    if data_type == "uuid":
        return "gen_random_uuid()"
    if data_type in ("text", "character varying"):
        return f"left(md5(coalesce({column}::text, '') || 'edit'), {min(length or 32, 32)})"
    if data_type in ("smallint", "integer", "bigint"):
        return f"coalesce({column}, 0) + 1"
    if data_type == "timestamp with time zone":
        return f"coalesce({column}, now()) + interval '1 second'"
    if data_type == "bytea":
        return f"sha256(coalesce({column}, '\\x00'::bytea))"
    raise AssertionError(f"no edit for {table}.{column} of type {data_type}: add one to this test")


@dataclass
class Story:
    """One member's history: an earn (its lot), a hold on part of it, a redemption."""

    earn_tx: str
    lot_id: str
    hold_id: str
    redeem_tx: str

    def row(self, table: str) -> tuple[str, dict]:
        """The WHERE clause and parameters that pick this story's row of `table`."""
        return {
            "journal": ("tx_id = :a", {"a": self.earn_tx}),
            "postings": ("tx_id = :a AND line = 1", {"a": self.earn_tx}),
            "lots": ("lot_id = :a", {"a": self.lot_id}),
            "holds": ("hold_id = :a", {"a": self.hold_id}),
            "hold_allocations": ("hold_id = :a AND lot_id = :b", {"a": self.hold_id, "b": self.lot_id}),
            "hold_members": ("hold_id = :a", {"a": self.hold_id}),
        }[table]

    def labels(self, table: str) -> list[str]:
        """How verify names the row (before its key was edited)."""
        return {"journal": [f"journal {self.earn_tx}"], "postings": [f"postings of {self.earn_tx}"],
                "lots": [f"lot {self.lot_id}"], "holds": [f"hold {self.hold_id}"],
                "hold_allocations": [f"hold_allocation {self.hold_id} line 0"],
                "hold_members": [f"hold {self.hold_id}"]}[table]


KEY_LABELS = {("journal", "tx_id"): "journal {}", ("lots", "lot_id"): "lot {}", ("holds", "hold_id"): "hold {}",
              ("hold_allocations", "hold_id"): "hold_allocation {} line 0", ("hold_members", "hold_id"): "hold {}"}


@pytest.fixture
def story(engine, make_partner) -> Story:
    shop = make_partner("cols", expiry_days=365, earn_points_per_major=1)
    with shop.client() as network:
        member = network.enroll_member().member
        earned = network.earn(member.member_id, amount_minor=10_000, currency="EUR", receipt_ref="till-receipt-1",
                              store_id="store-7", terminal_id="pos-3")
        hold = network.authorize_redemption(member.member_id, 30, receipt_ref="basket-1")
        redeemed = network.redeem(member.member_id, 10, receipt_ref="basket-2", store_id="store-7")
    with engine.connect() as conn:
        lot_id = conn.execute(text("SELECT lot_id FROM lots WHERE earn_tx_id = :t"),
                              {"t": earned.transaction_id}).scalar_one()
        assert conn.execute(text("SELECT hash_version FROM journal WHERE tx_id = :t"),
                            {"t": earned.transaction_id}).scalar_one() == ledger.HASH_VERSION
    return Story(earned.transaction_id, str(lot_id), hold.hold_id, redeemed.transaction_id)


MODEL_COLUMNS = [(table, column.name) for table in HISTORY_TABLES for column in Base.metadata.tables[table].columns]


def test_every_catalogue_column_is_edited(engine):
    """The parametrized edits below cover every column the database has (a column added without a model fails
    here, one added with a model is edited below)."""
    catalogue = catalogue_columns(engine)
    assert {(t, c) for t, columns in catalogue.items() for c in columns} == set(MODEL_COLUMNS)


@pytest.mark.parametrize(("table", "column"), MODEL_COLUMNS, ids=[f"{t}.{c}" for t, c in MODEL_COLUMNS])
def test_editing_a_column_fails_verify_naming_row_and_class(engine, story, table, column):
    data_type, length = catalogue_columns(engine)[table][column]
    where, params = story.row(table)
    expected_class = COLUMN_CLASS.get((table, column), TABLE_CLASS[table])
    with engine.connect() as conn, conn.begin() as transaction:
        try:
            assert not [c.name for c in verify_ledger(conn, snapshot=False) if not c.ok]
            new = conn.execute(text(f"UPDATE {table} SET {column} = {edit_expression(table, column, data_type, length)} "
                                    f"WHERE {where} RETURNING {column}"), params).scalar_one()
            failed = [c for c in verify_ledger(conn, snapshot=False) if not c.ok]
        finally:
            transaction.rollback()  # restores the row
    labels = story.labels(table)
    if (table, column) in KEY_LABELS:  # the row's key itself changed: verify names it by its new key
        labels = labels + [KEY_LABELS[(table, column)].format(new)]
    lines = [line for c in failed for line in c.examples]
    assert failed, f"editing {table}.{column} went unnoticed"
    assert any(label in line and expected_class in line for line in lines for label in labels), (
        f"{table}.{column}: no failure names {labels} as {expected_class}: {lines}")


def test_rows_hashed_before_version_2_keep_verifying_under_version_1(engine, story):
    """A database written before every column came under the hash still verifies: its rows keep hash version 1
    (history is not re-chained). Version 1 does not cover receipt_ref; it covers points; and a version 2 row
    cannot be passed off as version 1."""
    shard = 15
    with engine.connect() as conn, conn.begin() as transaction:
        try:
            head = conn.execute(text("SELECT seq, last_hash FROM shard_heads WHERE shard = :s FOR UPDATE"),
                                {"s": shard}).one()
            member, partner = conn.execute(text("SELECT member_id::text, partner_id FROM journal WHERE tx_id = :t"),
                                           {"t": story.earn_tx}).one()
            tx_id, at = str(uuid.uuid4()), datetime.now(timezone.utc) - timedelta(days=1)
            postings = ledger.earn_postings(member, partner, story.lot_id, 0)
            entry = ledger.JournalEntry(tx_id, shard, head.seq + 1, "adjust", partner, member, 0, None, None, None,
                                        None, at)  # version 1: as written before this change
            digest = ledger.chain_hash(bytes(head.last_hash), ledger.entry_digest(entry, postings))
            conn.execute(text("INSERT INTO journal (tx_id, shard, seq, kind, partner_id, member_id, points, receipt_ref, "
                              "created_at, prev_hash, hash, hash_version) VALUES (:t, :s, :q, 'adjust', :p, :m, 0, "
                              "'old-ref', :at, :prev, :h, 1)"),
                         {"t": tx_id, "s": shard, "q": head.seq + 1, "p": partner, "m": member, "at": at,
                          "prev": bytes(head.last_hash), "h": digest})
            conn.exec_driver_sql(*journal.posting_writes([journal.PendingTransaction(
                tx_id, "adjust", partner, member, shard, 0, postings, at)])[0])
            conn.execute(text("UPDATE shard_heads SET seq = :q, last_hash = :h WHERE shard = :s"),
                         {"q": head.seq + 1, "h": digest, "s": shard})
            conn.execute(text("SAVEPOINT v1"))

            def chain_ok() -> bool:
                return next(c for c in verify_ledger(conn, snapshot=False) if "hash chain" in c.name).ok

            assert chain_ok()
            conn.execute(text("UPDATE journal SET receipt_ref = 'edited' WHERE tx_id = :t"), {"t": tx_id})
            assert chain_ok()  # version 1 never covered it: the reason rows are now written under version 2
            conn.execute(text("ROLLBACK TO SAVEPOINT v1"))
            conn.execute(text("UPDATE journal SET points = 1 WHERE tx_id = :t"), {"t": tx_id})
            assert not chain_ok()
            conn.execute(text("ROLLBACK TO SAVEPOINT v1"))
            conn.execute(text("UPDATE journal SET hash_version = 1 WHERE tx_id = :t"), {"t": story.earn_tx})
            assert not chain_ok()  # a version 2 row relabelled version 1 no longer matches its hash
        finally:
            transaction.rollback()
