"""partner events: the transactional outbox each partner's event feed (WatchEvents, ListEvents) reads

partner_event_heads holds each partner's last event sequence number: a transaction that writes a partner's
events moves its row once, so the sequence has no gap (a rolled-back transaction gives its numbers back) and
concurrent writers of one partner's events commit in sequence order. Events about a ledger transaction name its
journal row (tx_id); other events carry their subject and details.

The journal written before this revision becomes each partner's first events, in the order it was written (a void
without a request id is a hold that lapsed), so every journal row has its event (`coalition ledger verify`).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 13:40:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
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
    op.execute("INSERT INTO partner_events (partner_id, seq, type, occurred_at, tx_id) "
               "SELECT partner_id, row_number() OVER (PARTITION BY partner_id ORDER BY created_at, shard, seq), "
               "CASE kind WHEN 'earn' THEN 'points.earned' WHEN 'redeem' THEN 'points.redeemed' "
               "WHEN 'hold' THEN 'redemption.authorized' WHEN 'capture' THEN 'redemption.captured' "
               "WHEN 'void' THEN CASE WHEN request_id IS NULL THEN 'hold.lapsed' ELSE 'redemption.voided' END "
               "WHEN 'reverse' THEN 'transaction.reversed' WHEN 'expire' THEN 'points.expired' "
               "WHEN 'adjust' THEN 'points.adjusted' ELSE 'points.transferred' END, created_at, tx_id FROM journal")
    op.execute("INSERT INTO partner_event_heads (partner_id, seq) "
               "SELECT partner_id, max(seq) FROM partner_events GROUP BY partner_id")


def downgrade() -> None:
    op.drop_table('partner_events')
    op.drop_table('partner_event_heads')
