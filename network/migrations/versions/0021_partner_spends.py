"""partner_spends: the spends (Redeem and AuthorizeRedemption) each partner made in the last velocity window, one
row per spend. The partner velocity limit (network.store.consent) counts them by partner here instead of counting
the journal across every member: on a Citus cluster, where the journal is distributed by member, that count asked
every shard; this table, keyed by partner like the idempotency keys and the partner events, stays on the
coordinator (network.store.citus). Each spend deletes its partner's rows that have left the window, so the table
holds about one window of spends. Filled here from the journal's last minute (a deploy does not reset the window).

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30 23:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'partner_spends',
        sa.Column('partner_id', sa.String(length=32), nullable=False),
        sa.Column('spend_id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('spent_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('partner_id', 'spend_id'),
    )
    op.create_index('ix_partner_spends_window', 'partner_spends', ['partner_id', 'spent_at'])
    op.execute("INSERT INTO partner_spends (partner_id, spent_at) SELECT partner_id, created_at FROM journal "
               "WHERE kind IN ('redeem', 'hold') AND created_at > now() - interval '1 minute'")


def downgrade() -> None:
    op.drop_index('ix_partner_spends_window', table_name='partner_spends')
    op.drop_table('partner_spends')
