"""verification failures: one row per wrong PIN or one-time code a spend carried (network.store.consent), so the
console can flag members with many failed PINs within a window (network.store.transfers.anomaly_flags).
member_credentials keeps only the running counter, which a lock or a right PIN starts again.

Revision ID: 0015
Revises: 0012
Create Date: 2026-11-30 16:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0015'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'verification_failures',
        sa.Column('failure_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('partner_id', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.member_id']),
        sa.PrimaryKeyConstraint('failure_id'),
        sa.CheckConstraint("method in ('pin','code')", name='verification_failure_method'),
    )
    op.create_index('ix_verification_failures_time', 'verification_failures', ['failed_at'])
    op.create_index('ix_verification_failures_member', 'verification_failures', ['member_id', 'failed_at'])


def downgrade() -> None:
    op.drop_index('ix_verification_failures_member', table_name='verification_failures')
    op.drop_index('ix_verification_failures_time', table_name='verification_failures')
    op.drop_table('verification_failures')
