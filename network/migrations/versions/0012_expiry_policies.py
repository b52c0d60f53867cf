"""expiry policies: a contract's expiry policy (fixed, calendar, inactivity), members' last activity, and the
warnings sent ahead of expiry

contracts.expiry_policy / expiry_months: network.core.expiry (every existing contract stays 'fixed' in days).
member_activity: each member's last earn or spend anywhere in the network, filled from the journal written before.
expiry_warnings: the lots already warned about (points.expiring events), once per lot and expiry instant.

Revision ID: 0012
Revises: 0006
Create Date: 2026-11-30 15:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('contracts', sa.Column('expiry_policy', sa.String(length=16), server_default=sa.text("'fixed'"),
                                         nullable=False))
    op.add_column('contracts', sa.Column('expiry_months', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.create_check_constraint('contract_expiry_policy', 'contracts',
                               "expiry_policy in ('fixed','calendar','inactivity')")
    op.create_table(
        'member_activity',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.member_id']),
        sa.PrimaryKeyConstraint('member_id'),
    )
    op.execute("INSERT INTO member_activity (member_id, last_activity_at) SELECT member_id, max(created_at) "
               "FROM journal WHERE kind IN ('earn', 'redeem', 'capture') GROUP BY member_id")
    op.create_table(
        'expiry_warnings',
        sa.Column('lot_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('warned_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('lot_id', 'expires_at'),
    )


def downgrade() -> None:
    op.drop_table('expiry_warnings')
    op.drop_table('member_activity')
    op.drop_constraint('contract_expiry_policy', 'contracts', type_='check')
    op.drop_column('contracts', 'expiry_months')
    op.drop_column('contracts', 'expiry_policy')
