"""consent for every spend: cards with a status, member freezes, spending PINs, redemption codes, how a member
enrolled with a partner, and the contract's unverified-spend limit

- cards: every card a member owns (status active, frozen or replaced). members.card_number stays the member's
  current card; a trigger gives every member inserted with a card number its cards row, so the paths that insert
  members directly (demo, benchmarks) keep working. Each existing member's card becomes an active card.
- members.frozen_at / frozen_reason: an operator's freeze of the whole member (no spending while set).
- member_credentials: the spending PIN (scrypt hash, per-member salt, the cost parameters it was made with) and the
  failed-try counter with the lock it leads to.
- redemption_codes: one-time codes, stored as a hash only, with their points ceiling, expiry and use.
- enrollments.method: 'till' (EnrollMember by that partner: the card presented at its till), 'earn' (an earn
  found the member) or 'spend' (a verified spend). Only 'till' lets a partner spend without verification. Existing
  rows: 'till' where the partner enrolled the member first (members.enrolled_by) or gave a customer_ref (only
  EnrollMember sets one), else 'earn'.
- contracts.unverified_spend_limit_points: the most points one spend may take without a verification, for members
  enrolled at the partner's own till (0: every spend needs one).

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-30 15:20:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'cards',
        sa.Column('card_number', sa.String(length=19), nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('status', sa.String(length=16), server_default=sa.text("'active'"), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.member_id']),
        sa.PrimaryKeyConstraint('card_number'),
        sa.CheckConstraint("status in ('active','frozen','replaced')", name='card_status'),
    )
    op.create_index('ix_cards_member', 'cards', ['member_id'])
    op.execute("INSERT INTO cards (card_number, member_id, status, created_at) "
               "SELECT card_number, member_id, 'active', created_at FROM members")
    op.execute("""CREATE FUNCTION coalition_member_card() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO cards (card_number, member_id, status, created_at)
  VALUES (NEW.card_number, NEW.member_id, 'active', NEW.created_at) ON CONFLICT (card_number) DO NOTHING;
  RETURN NEW;
END $$""")
    op.execute("CREATE TRIGGER members_card AFTER INSERT ON members FOR EACH ROW EXECUTE FUNCTION coalition_member_card()")
    op.add_column('members', sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('members', sa.Column('frozen_reason', sa.String(length=200), nullable=True))
    op.create_table(
        'member_credentials',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('pin_hash', sa.LargeBinary(), nullable=True),
        sa.Column('pin_salt', sa.LargeBinary(), nullable=True),
        sa.Column('pin_params', sa.String(length=64), nullable=True),
        sa.Column('pin_set_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failed_tries', sa.Integer(), server_default=sa.text('0'), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.member_id']),
        sa.PrimaryKeyConstraint('member_id'),
    )
    op.create_table(
        'redemption_codes',
        sa.Column('code_hash', sa.LargeBinary(), nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('max_points', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('used_by', sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(['member_id'], ['members.member_id']),
        sa.PrimaryKeyConstraint('code_hash'),
        sa.CheckConstraint('max_points > 0', name='redemption_code_ceiling'),
    )
    op.create_index('ix_redemption_codes_member', 'redemption_codes', ['member_id'])
    op.add_column('enrollments', sa.Column('method', sa.String(length=8), server_default=sa.text("'earn'"),
                                           nullable=False))
    op.create_check_constraint('enrollment_method', 'enrollments', "method in ('till','earn','spend')")
    op.execute("UPDATE enrollments e SET method = 'till' FROM members m WHERE m.member_id = e.member_id "
               "AND (m.enrolled_by = e.partner_id OR e.customer_ref IS NOT NULL)")
    op.add_column('contracts', sa.Column('unverified_spend_limit_points', sa.BigInteger(),
                                         server_default=sa.text('0'), nullable=False))
    op.create_check_constraint('contract_unverified_limit', 'contracts', 'unverified_spend_limit_points >= 0')


def downgrade() -> None:
    op.drop_constraint('contract_unverified_limit', 'contracts')
    op.drop_column('contracts', 'unverified_spend_limit_points')
    op.drop_constraint('enrollment_method', 'enrollments')
    op.drop_column('enrollments', 'method')
    op.drop_index('ix_redemption_codes_member', table_name='redemption_codes')
    op.drop_table('redemption_codes')
    op.drop_table('member_credentials')
    op.drop_column('members', 'frozen_reason')
    op.drop_column('members', 'frozen_at')
    op.execute("DROP TRIGGER members_card ON members")
    op.execute("DROP FUNCTION coalition_member_card()")
    op.drop_index('ix_cards_member', table_name='cards')
    op.drop_table('cards')
