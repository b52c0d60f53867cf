"""member accounts: personal data encrypted per account, cards linked, activation and login codes, sessions

member_accounts holds each account's personal data as one AES-GCM ciphertext under the account's own data key
(member_keys, wrapped by the network's master key) and the keyed hash of its e-mail address for login lookup;
account_cards links cards (members) to accounts; activation_codes, login_codes and member_sessions keep only
hashes of what members are given; login_events is what the login rate limits count.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'member_accounts',
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('email_hash', sa.LargeBinary(), nullable=True),
        sa.Column('personal_data', sa.LargeBinary(), nullable=True),
        sa.Column('consent_marketing', sa.Boolean(), nullable=False),
        sa.Column('consent_data_sharing', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state in ('active','erased')", name='member_account_state'),
        sa.CheckConstraint("(state = 'active') = (email_hash IS NOT NULL)", name='member_account_email'),
        sa.PrimaryKeyConstraint('account_id'),
        sa.UniqueConstraint('email_hash'),
    )
    op.create_table(
        'member_keys',
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['member_accounts.account_id']),
        sa.PrimaryKeyConstraint('account_id'),
    )
    op.create_table(
        'account_cards',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['account_id'], ['member_accounts.account_id']),
        sa.ForeignKeyConstraint(['member_id'], ['members.member_id']),
        sa.PrimaryKeyConstraint('member_id'),
    )
    op.create_index(op.f('ix_account_cards_account_id'), 'account_cards', ['account_id'], unique=False)
    op.create_table(
        'activation_codes',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('code_hash', sa.LargeBinary(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.member_id']),
        sa.PrimaryKeyConstraint('member_id'),
    )
    op.create_table(
        'login_codes',
        sa.Column('code_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('code_hash', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('failed_attempts', sa.Integer(), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['member_accounts.account_id']),
        sa.PrimaryKeyConstraint('code_id'),
    )
    op.create_index(op.f('ix_login_codes_account_id'), 'login_codes', ['account_id'], unique=False)
    op.create_table(
        'login_events',
        sa.Column('event_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('email_hash', sa.LargeBinary(), nullable=False),
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('request','attempt')", name='login_event_kind'),
        sa.PrimaryKeyConstraint('event_id'),
    )
    op.create_index('ix_login_events_email', 'login_events', ['email_hash', 'kind', 'at'], unique=False)
    op.create_index('ix_login_events_account', 'login_events', ['account_id', 'kind', 'at'], unique=False)
    op.create_table(
        'member_sessions',
        sa.Column('token_hash', sa.LargeBinary(), nullable=False),
        sa.Column('account_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['member_accounts.account_id']),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index(op.f('ix_member_sessions_account_id'), 'member_sessions', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_table('member_sessions')
    op.drop_table('login_events')
    op.drop_table('login_codes')
    op.drop_table('activation_codes')
    op.drop_table('account_cards')
    op.drop_table('member_keys')
    op.drop_table('member_accounts')
