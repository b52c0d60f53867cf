"""partner events: the transactional outbox each partner's event feed (WatchEvents, ListEvents) reads

partner_event_heads holds each partner's last event sequence number: a transaction that writes a partner's
events moves its row once, so the sequence has no gap (a rolled-back transaction gives its numbers back) and
concurrent writers of one partner's events commit in sequence order. Events about a ledger transaction name its
journal row (tx_id); other events carry their subject and details.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 13:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'partner_event_heads',
        sa.Column('partner_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('partner_id'),
    )
    op.create_table(
        'partner_events',
        sa.Column('partner_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('type', sa.String(length=40), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('tx_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('subject', sa.String(length=100), nullable=True),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.PrimaryKeyConstraint('partner_id', 'seq'),
        sa.CheckConstraint('seq > 0', name='partner_event_seq'),
    )


def downgrade() -> None:
    op.drop_table('partner_events')
    op.drop_table('partner_event_heads')
