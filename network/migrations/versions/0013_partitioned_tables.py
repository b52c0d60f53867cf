"""bounded tables and the Citus plan: journal and postings partitioned by month (RANGE on the UUIDv7 tx_id), idempotency keys by week
(RANGE on created_at); see network.store.partitions

An existing database is converted in place: each table is renamed aside, its indexes and keys dropped, a
partitioned table of the same columns, defaults and checks is created under the old name with its keys and
indexes, the partitions from the oldest row's month (day) to the horizon ahead and a DEFAULT partition are
created, the rows are moved, and the old table is dropped. No foreign key refers to these tables: the rows that
name a journal transaction (member_transfers.sent_tx_id / received_tx_id, earn_components.tx_id, lots.source_lot_id
naming a lot) carry its id as a plain column, so they survive the conversion unchanged.

Last, where the citus extension is installed or available (and nowhere else), the distribution plan of
network.store.citus runs: member-keyed tables distributed by member id, partners, contracts and keys as reference
tables, the chain heads anchored to member ids.

What changes: PostgreSQL requires the partition key in every unique constraint, so
- journal: the primary key stays (tx_id is the key); (shard, seq) becomes a plain index (seq is still unique per
  shard: it is written under the shard head's row lock, and `coalition ledger verify` walks every chain);
- postings: the primary key (tx_id, line) stays;
- idempotency_keys: the primary key becomes (partner_id, request_id, created_at); a key is unique within the
  retention window through the advisory lock every claim takes (network.store.idempotency). The created_at index
  is dropped: the retention window is enforced by dropping whole week partitions, no longer by a purge scan.

Revision ID: 0013
Revises: 0016
Create Date: 2026-11-30 15:40:00.000000
"""
from datetime import datetime, timedelta, timezone

from alembic import op
import sqlalchemy as sa

from network.settings import Settings
from network.store import citus, partitions

revision = '0013'
down_revision = '0016'
branch_labels = None
depends_on = None

OLDEST_IDEMPOTENCY_DAYS = 31  # older keys (past any allowed window) go to the default partition, deleted by the next drop

_INDEXES = {
    "journal": ["CREATE INDEX ix_journal_shard_seq ON journal (shard, seq)",
                "CREATE INDEX ix_journal_partner_created ON journal (partner_id, created_at)",
                "CREATE INDEX ix_journal_member_created ON journal (member_id, created_at)",
                "CREATE INDEX ix_journal_created ON journal USING brin (created_at)"],
    "postings": ["CREATE INDEX ix_postings_lot ON postings (lot_id)"],
    "idempotency_keys": [],
}
_KEYS = {"journal": "tx_id", "postings": "tx_id, line", "idempotency_keys": "partner_id, request_id, created_at"}
_OLD_INDEXES = {
    "journal": ["ix_journal_partner_created", "ix_journal_member_created", "ix_journal_created"],
    "postings": ["ix_postings_lot"],
    "idempotency_keys": ["ix_idempotency_keys_created"],
}
_OLD_CONSTRAINTS = {"journal": ["journal_pkey", "journal_shard_seq_key"], "postings": ["postings_pkey"],
                    "idempotency_keys": ["idempotency_keys_pkey"]}


def _convert(conn, table: str, partition_column: str) -> None:
    aside = f"{table}_unpartitioned"
    conn.execute(sa.text(f"ALTER TABLE {table} RENAME TO {aside}"))
    for constraint in _OLD_CONSTRAINTS[table]:
        conn.execute(sa.text(f"ALTER TABLE {aside} DROP CONSTRAINT IF EXISTS {constraint}"))
    for index in _OLD_INDEXES[table]:
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {index}"))
    conn.execute(sa.text(f"CREATE TABLE {table} (LIKE {aside} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
                         f"PARTITION BY RANGE ({partition_column})"))
    conn.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({_KEYS[table]})"))
    for statement in _INDEXES[table]:
        conn.execute(sa.text(statement))
    conn.execute(sa.text(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT"))


def upgrade() -> None:
    conn = op.get_bind()
    now = conn.execute(sa.text("SELECT now()")).scalar_one()
    first_tx = conn.execute(sa.text("SELECT min(created_at) FROM journal")).scalar_one() or now
    first_key = conn.execute(sa.text("SELECT min(created_at) FROM idempotency_keys")).scalar_one() or now
    first_key_day = max(first_key.astimezone(timezone.utc).date(),
                        now.astimezone(timezone.utc).date() - timedelta(days=OLDEST_IDEMPOTENCY_DAYS))
    _convert(conn, "journal", "tx_id")
    _convert(conn, "postings", "tx_id")
    _convert(conn, "idempotency_keys", "created_at")
    for partition in partitions.wanted(min(first_tx, now).astimezone(timezone.utc).date(), now,
                                       first_day=first_key_day):
        conn.execute(sa.text(partition.create_sql()))
    for table in partitions.PARTITIONED:
        conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned"))
        conn.execute(sa.text(f"DROP TABLE {table}_unpartitioned"))
        conn.execute(sa.text(f"ANALYZE {table}"))
    # Beyond one database: where (and only where) the citus extension is present, distribute the ledger
    # (network.store.citus); on a plain PostgreSQL this does nothing.
    citus.apply_if_available(conn, Settings().ledger_shards)


def downgrade() -> None:
    conn = op.get_bind()
    for table in partitions.PARTITIONED:
        conn.execute(sa.text(f"ALTER TABLE {table} RENAME TO {table}_partitioned"))
        conn.execute(sa.text(f"ALTER TABLE {table}_partitioned DROP CONSTRAINT {table}_pkey"))
        conn.execute(sa.text(f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
        conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM {table}_partitioned"))
        conn.execute(sa.text(f"DROP TABLE {table}_partitioned"))  # its partitions and indexes go with it
    conn.execute(sa.text("ALTER TABLE journal ADD PRIMARY KEY (tx_id), ADD UNIQUE (shard, seq)"))
    conn.execute(sa.text("ALTER TABLE postings ADD PRIMARY KEY (tx_id, line)"))
    conn.execute(sa.text("ALTER TABLE idempotency_keys ADD PRIMARY KEY (partner_id, request_id)"))
    for statement in _INDEXES["journal"][1:] + _INDEXES["postings"]:
        conn.execute(sa.text(statement))
    conn.execute(sa.text("CREATE INDEX ix_idempotency_keys_created ON idempotency_keys (created_at)"))
