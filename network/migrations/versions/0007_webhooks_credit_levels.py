"""webhooks: partners' endpoints, the delivery log; each partner's last credit-use level announced

webhook_endpoints holds a partner's endpoints (URL, event-type filter, state, the Standard Webhooks secret) and
how far each has been delivered (delivered_through, a partner event sequence number: an endpoint receives the
events after the one current when it was created). webhook_deliveries logs every attempt (status code or error,
latency). webhook_replays holds replays asked for (by the partner or an operator) until the dispatcher starts
them. partner_credit_levels holds the last credit-use level (0, 80, 100 per cent) each partner was told of, so
that a crossing upward is announced once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 15:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'webhook_endpoints',
        sa.Column('endpoint_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('partner_id', sa.String(length=32), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('event_types', postgresql.ARRAY(sa.String(length=40)), server_default=sa.text("'{}'"),
                  nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('disabled_reason', sa.String(length=500), nullable=True),
        sa.Column('alert', sa.String(length=500), nullable=True),
        sa.Column('delivered_through', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['partner_id'], ['partners.partner_id']),
        sa.PrimaryKeyConstraint('endpoint_id'),
        sa.CheckConstraint('enabled OR disabled_reason IS NOT NULL', name='webhook_disabled_reason'),
    )
    op.create_index('ix_webhook_endpoints_partner', 'webhook_endpoints', ['partner_id'])
    op.create_table(
        'webhook_deliveries',
        sa.Column('delivery_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('endpoint_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('partner_id', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('replay', sa.Boolean(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=False),
        sa.Column('delivered', sa.Boolean(), nullable=False),
        sa.Column('attempted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.endpoint_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('delivery_id'),
    )
    op.create_index('ix_webhook_deliveries_endpoint', 'webhook_deliveries', ['endpoint_id', 'delivery_id'])
    op.create_table(
        'webhook_replays',
        sa.Column('replay_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('endpoint_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('first_seq', sa.BigInteger(), nullable=False),
        sa.Column('last_seq', sa.BigInteger(), nullable=False),
        sa.Column('requested_by', sa.String(length=100), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoints.endpoint_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('replay_id'),
        sa.CheckConstraint('first_seq > 0 AND last_seq >= first_seq', name='webhook_replay_range'),
    )
    op.create_table(
        'partner_credit_levels',
        sa.Column('partner_id', sa.String(length=32), nullable=False),
        sa.Column('level', sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint('partner_id'),
    )


def downgrade() -> None:
    op.drop_table('partner_credit_levels')
    op.drop_table('webhook_replays')
    op.drop_index('ix_webhook_deliveries_endpoint', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_webhook_endpoints_partner', table_name='webhook_endpoints')
    op.drop_table('webhook_endpoints')
