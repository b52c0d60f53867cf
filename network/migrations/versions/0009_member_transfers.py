"""member transfers and donations: charity partners, lots a transfer created, the member outbox

- partners.charity: a partner members may donate points to (set by the operator); false for every partner so far.
- lots.source_lot_id: a lot a transfer created names the sender's lot its points came from (NULL: an earn's lot,
  every lot so far).
- member_transfers: each transfer or donation a member asked for, unique per (member, idempotency key), with the
  journal rows that carried it out.
- member_notifications: the member outbox (transfer sent / received, donation made), numbered per member.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 15:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('partners', sa.Column('charity', sa.Boolean(), server_default=sa.text('false'), nullable=False))
    op.add_column('lots', sa.Column('source_lot_id', postgresql.UUID(as_uuid=True), nullable=True))
    op.create_table(
        'member_transfers',
        sa.Column('transfer_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('idempotency_key', sa.String(length=64), nullable=False),
        sa.Column('recipient_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('charity_id', sa.String(length=32), nullable=True),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('sent_tx_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('received_tx_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('transfer_id'),
        sa.UniqueConstraint('member_id', 'idempotency_key'),
        sa.CheckConstraint("kind in ('transfer','donation')", name='member_transfer_kind'),
        sa.CheckConstraint('points > 0', name='member_transfer_points'),
        sa.CheckConstraint("(kind = 'transfer') = (recipient_id IS NOT NULL AND received_tx_id IS NOT NULL "
                           "AND charity_id IS NULL)", name='member_transfer_parties'),
    )
    op.create_index('ix_member_transfers_member_created', 'member_transfers', ['member_id', 'created_at'])
    op.create_table(
        'member_notifications',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('transfer_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.PrimaryKeyConstraint('member_id', 'seq'),
        sa.CheckConstraint('seq > 0', name='member_notification_seq'),
    )


def downgrade() -> None:
    op.drop_table('member_notifications')
    op.drop_index('ix_member_transfers_member_created', table_name='member_transfers')
    op.drop_table('member_transfers')
    op.drop_column('lots', 'source_lot_id')
    op.drop_column('partners', 'charity')
