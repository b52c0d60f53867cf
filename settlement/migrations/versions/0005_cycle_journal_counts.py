"""cycles: the journal each cycle cleared (transactions dated inside its period, and their points)

Cycles cleared before this revision keep NULL (what they cleared was not recorded); `coalition ledger verify`
checks the cycles cleared from now on.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 13:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('cycles', sa.Column('journal_transactions', sa.BigInteger(), nullable=True))
    op.add_column('cycles', sa.Column('journal_points', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column('cycles', 'journal_points')
    op.drop_column('cycles', 'journal_transactions')
