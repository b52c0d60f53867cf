"""ledger, partners, members, keys

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 10:54:11.873861
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hold_allocations',
    sa.Column('hold_id', sa.UUID(), nullable=False),
    sa.Column('lot_id', sa.UUID(), nullable=False),
    sa.Column('line', sa.SmallInteger(), nullable=False),
    sa.Column('issuer_id', sa.String(length=32), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('hold_id', 'lot_id')
    )
    op.create_table('holds',
    sa.Column('hold_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state in ('open','captured','voided','expired')", name='hold_state'),
    sa.PrimaryKeyConstraint('hold_id')
    )
    op.create_index(op.f('ix_holds_member_id'), 'holds', ['member_id'], unique=False)
    op.create_index('ix_holds_open_expiry', 'holds', ['expires_at'], unique=False, postgresql_where=sa.text("state = 'open'"))
    op.create_table('idempotency_keys',
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('body_hash', sa.LargeBinary(), nullable=False),
    sa.Column('response', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('partner_id', 'request_id')
    )
    op.create_table('journal',
    sa.Column('tx_id', sa.UUID(), nullable=False),
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('amount_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('receipt_ref', sa.String(length=64), nullable=True),
    sa.Column('store_id', sa.String(length=64), nullable=True),
    sa.Column('terminal_id', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('related_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.LargeBinary(), nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.CheckConstraint("kind in ('earn','redeem','hold','capture','void','reverse','expire','adjust','transfer')", name='journal_kind'),
    sa.PrimaryKeyConstraint('tx_id'),
    sa.UniqueConstraint('shard', 'seq')
    )
    op.create_index('ix_journal_created', 'journal', ['created_at'], unique=False, postgresql_using='brin')
    op.create_index('ix_journal_member_created', 'journal', ['member_id', 'created_at'], unique=False)
    op.create_index('ix_journal_partner_created', 'journal', ['partner_id', 'created_at'], unique=False)
    op.create_table('lots',
    sa.Column('lot_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('issuer_id', sa.String(length=32), nullable=False),
    sa.Column('earn_tx_id', sa.UUID(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('held', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state in ('pending','active','expired','reversed')", name='lot_state'),
    sa.CheckConstraint('remaining >= 0 and held >= 0 and remaining + held <= points', name='lot_bounds'),
    sa.PrimaryKeyConstraint('lot_id'),
    )
    op.create_index('ix_lots_active_expiry', 'lots', ['expires_at'], unique=False, postgresql_where=sa.text("state = 'active' AND expires_at IS NOT NULL"))
    op.create_index('ix_lots_issuer_state', 'lots', ['issuer_id', 'state'], unique=False)
    op.create_index('ix_lots_member_state', 'lots', ['member_id', 'state'], unique=False)
    op.create_index('ix_lots_pending_due', 'lots', ['available_at'], unique=False, postgresql_where=sa.text("state = 'pending'"))
    op.create_table('network_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_table('operator_actions',
    sa.Column('action_id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('operator', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('action_id')
    )
    op.create_table('partners',
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('iban', sa.String(length=34), nullable=True),
    sa.Column('bic', sa.String(length=11), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status in ('active','suspended')", name='partner_status'),
    sa.PrimaryKeyConstraint('partner_id')
    )
    op.create_table('postings',
    sa.Column('tx_id', sa.UUID(), nullable=False),
    sa.Column('line', sa.SmallInteger(), nullable=False),
    sa.Column('account', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('lot_id', sa.UUID(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('tx_id', 'line')
    )
    op.create_index('ix_postings_lot', 'postings', ['lot_id'], unique=False)
    op.create_table('shard_heads',
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('shard')
    )
    op.create_table('contracts',
    sa.Column('contract_id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('earn_points_per_major', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('settlement_model', sa.String(length=16), nullable=False),
    sa.Column('clearing_fee_bps', sa.Integer(), nullable=False),
    sa.Column('issue_price_minor_per_point', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('redemption_rate_minor_per_point', sa.Numeric(precision=12, scale=6), nullable=False),
    sa.Column('breakage_share_bps', sa.Integer(), nullable=False),
    sa.Column('return_window_seconds', sa.Integer(), nullable=False),
    sa.Column('expiry_days', sa.Integer(), nullable=False),
    sa.Column('max_basket_share_bps', sa.Integer(), nullable=False),
    sa.Column('credit_limit_minor', sa.BigInteger(), nullable=True),
    sa.Column('collateral_minor', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("settlement_model in ('issuer_pays','prefunded')", name='contract_model'),
    sa.CheckConstraint('breakage_share_bps between 0 and 10000', name='contract_breakage_share'),
    sa.CheckConstraint('clearing_fee_bps between 0 and 10000', name='contract_fee'),
    sa.CheckConstraint('max_basket_share_bps between 0 and 10000', name='contract_basket_share'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.partner_id'], ),
    sa.PrimaryKeyConstraint('contract_id'),
    sa.UniqueConstraint('partner_id', 'version')
    )
    op.create_index('ix_contracts_partner_effective', 'contracts', ['partner_id', 'effective_from'], unique=False)
    op.create_table('members',
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('card_number', sa.String(length=19), nullable=False),
    sa.Column('shard', sa.SmallInteger(), nullable=False),
    sa.Column('enrolled_by', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['enrolled_by'], ['partners.partner_id'], ),
    sa.PrimaryKeyConstraint('member_id'),
    sa.UniqueConstraint('card_number')
    )
    op.create_table('partner_keys',
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('active','revoked')", name='key_status'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.partner_id'], ),
    sa.PrimaryKeyConstraint('key_id')
    )
    op.create_index(op.f('ix_partner_keys_partner_id'), 'partner_keys', ['partner_id'], unique=False)
    op.create_table('enrollments',
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('customer_ref', sa.String(length=64), nullable=True),
    sa.Column('enrolled_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.member_id'], ),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.partner_id'], ),
    sa.PrimaryKeyConstraint('partner_id', 'member_id'),
    sa.UniqueConstraint('partner_id', 'customer_ref')
    )
    op.create_index('ix_enrollments_member', 'enrollments', ['member_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_enrollments_member', table_name='enrollments')
    op.drop_table('enrollments')
    op.drop_index(op.f('ix_partner_keys_partner_id'), table_name='partner_keys')
    op.drop_table('partner_keys')
    op.drop_table('members')
    op.drop_index('ix_contracts_partner_effective', table_name='contracts')
    op.drop_table('contracts')
    op.drop_table('shard_heads')
    op.drop_index('ix_postings_lot', table_name='postings')
    op.drop_table('postings')
    op.drop_table('partners')
    op.drop_table('operator_actions')
    op.drop_table('network_keys')
    op.drop_index('ix_lots_pending_due', table_name='lots', postgresql_where=sa.text("state = 'pending'"))
    op.drop_index('ix_lots_member_state', table_name='lots')
    op.drop_index('ix_lots_issuer_state', table_name='lots')
    op.drop_index('ix_lots_active_expiry', table_name='lots')
    op.drop_table('lots')
    op.drop_index('ix_journal_partner_created', table_name='journal')
    op.drop_index('ix_journal_member_created', table_name='journal')
    op.drop_index('ix_journal_created', table_name='journal')
    op.drop_table('journal')
    op.drop_table('idempotency_keys')
    op.drop_index('ix_holds_open_expiry', table_name='holds', postgresql_where=sa.text("state = 'open'"))
    op.drop_index(op.f('ix_holds_member_id'), table_name='holds')
    op.drop_table('holds')
    op.drop_table('hold_allocations')
