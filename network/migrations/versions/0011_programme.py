"""the loyalty programme: campaigns (budgets, per-member caps), earn components, tiers, member status, lifecycle
awards and referrals

A bonus is an earn transaction of its own whose partner is its funder (the lot's issuer), related to the earn it
rewards; earn_components lists what each earn gave (base, tier, campaign per funder) with the lot of each line.
The default tier ladder (Member / Silver / Gold / Platinum, network.core.campaigns.DEFAULT_LADDER) is inserted
here with an earn multiplier of x1 on every tier (raising it is the operator's decision: `coalition tier set`, so
that migrating changes no earn) and higher campaign caps for the higher tiers.

Revision ID: 0011
Revises: 0006
Create Date: 2026-11-30 15:30:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def _now():
    return sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False)


def upgrade() -> None:
    op.create_table(
        'campaigns',
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('exclusive', sa.Boolean(), nullable=False),
        sa.Column('definition', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('budget_points', sa.BigInteger(), nullable=True),
        sa.Column('budget_left', sa.BigInteger(), nullable=True),
        _now(),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('campaign_id'),
        sa.CheckConstraint("status in ('active','paused','ended')", name='campaign_status'),
        sa.CheckConstraint("kind in ('earn','signup','referral','anniversary')", name='campaign_kind'),
        sa.CheckConstraint('budget_left >= 0 AND budget_left <= budget_points', name='campaign_budget'),
        sa.CheckConstraint('(budget_points IS NULL) = (budget_left IS NULL)', name='campaign_budget_set'),
    )
    op.create_table(
        'campaign_member_totals',
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('period', sa.String(length=16), nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('last_grant', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('campaign_id', 'member_id', 'period'),
    )
    op.create_table(
        'earn_components',
        sa.Column('tx_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('line', sa.SmallInteger(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('campaign_id', sa.String(length=64), nullable=True),
        sa.Column('funder_id', sa.String(length=32), nullable=False),
        sa.Column('lot_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('tx_id', 'line'),
        sa.CheckConstraint("kind in ('base','tier','campaign','signup','referral','anniversary')",
                           name='earn_component_kind'),
    )
    op.create_index('ix_earn_components_campaign', 'earn_components', ['campaign_id', 'created_at'])
    op.create_index('ix_earn_components_funder', 'earn_components', ['funder_id', 'created_at'])
    op.create_table(
        'tiers',
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('rank', sa.SmallInteger(), nullable=False),
        sa.Column('threshold_points', sa.BigInteger(), nullable=False),
        sa.Column('multiplier_bps', sa.Integer(), nullable=False),
        sa.Column('cap_multiplier_bps', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
        sa.UniqueConstraint('rank'),
        sa.CheckConstraint('threshold_points >= 0 AND multiplier_bps >= 0 AND cap_multiplier_bps >= 0',
                           name='tier_values'),
    )
    op.execute("INSERT INTO tiers (name, rank, threshold_points, multiplier_bps, cap_multiplier_bps) VALUES "
               "('Member', 0, 0, 10000, 10000), ('Silver', 1, 5000, 10000, 12500), "
               "('Gold', 2, 20000, 10000, 15000), ('Platinum', 3, 50000, 10000, 20000)")
    op.create_table(
        'member_status',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('tier', sa.String(length=32), nullable=False),
        sa.Column('tier_since', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_earn_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('member_id'),
    )
    op.create_table(
        'member_qualifying',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('points', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('member_id', 'month'),
    )
    op.create_table(
        'lifecycle_awards',
        sa.Column('campaign_id', sa.String(length=64), nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('occasion', sa.String(length=64), nullable=False),
        sa.Column('tx_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('campaign_id', 'member_id', 'occasion'),
    )
    op.create_index('ix_members_created', 'members', ['created_at'])
    op.create_table(
        'referrals',
        sa.Column('referee_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('referrer_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('referee_id'),
    )


def downgrade() -> None:
    op.drop_index('ix_members_created', table_name='members')
    for table in ('referrals', 'lifecycle_awards', 'member_qualifying', 'member_status', 'tiers',
                  'earn_components', 'campaign_member_totals', 'campaigns'):
        op.drop_table(table)
