"""journal hash versions, the cut-off watermark, the idempotency-key retention index

- journal.hash_version: what each row's hash covers (network.core.ledger). Rows already written keep version 1
  and verify under it; new rows are written under version 2, which covers every column. History is not
  re-chained: recomputing stored hashes would erase the evidence they are.
- ledger_cutoff: one row, the end of the latest period cut off (network.store.ledger_time); NULL until the first.
  Set to the latest period_end of the cycles already past their cut-off, so no new transaction is dated inside one.
- ix_idempotency_keys_created: housekeeping purges keys older than the retention window, oldest first.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 13:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('journal', sa.Column('hash_version', sa.SmallInteger(), server_default=sa.text('1'), nullable=False))
    op.create_check_constraint('journal_hash_version', 'journal', 'hash_version in (1, 2)')
    op.create_table('ledger_cutoff',
                    sa.Column('id', sa.SmallInteger(), server_default=sa.text('1'), nullable=False),
                    sa.Column('closed_before', sa.DateTime(timezone=True), nullable=True),
                    sa.CheckConstraint('id = 1', name='ledger_cutoff_one_row'),
                    sa.PrimaryKeyConstraint('id'))
    op.execute("INSERT INTO ledger_cutoff (id, closed_before) "
               "SELECT 1, (SELECT max(period_end) FROM cycles WHERE state <> 'scheduled')")
    op.create_index('ix_idempotency_keys_created', 'idempotency_keys', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_idempotency_keys_created', table_name='idempotency_keys')
    op.drop_table('ledger_cutoff')
    op.drop_constraint('journal_hash_version', 'journal', type_='check')
    op.drop_column('journal', 'hash_version')
