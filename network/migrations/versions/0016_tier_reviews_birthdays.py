"""tier requalification and birthdays: the history of tier changes (upgrades in the earn, one-level downgrades by
the review schedule), written by a trigger on member_status; members' birth month and day for the programme
(birthday bonus, birthday-month segment); the 'birthday' campaign and earn component kind

tier_changes: one row per change of member_status.tier (an insert at the lowest tier is not a change); its reason is
the transaction's coalition.tier_reason setting ('review' for the requalification schedule), 'earn' otherwise.
member_birthdays: the month and day of a member's birth date, copied from the account's encrypted personal data
when the account is created or a card linked to it, deleted when the account is erased (crypto-shredding).
campaigns.owner_partner_id: the partner that created the campaign over its signed API (NULL: the operator's).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 16:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

_TRIGGER_FUNCTION = """CREATE FUNCTION record_tier_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' AND NEW.tier = (SELECT name FROM tiers ORDER BY rank LIMIT 1) THEN
    RETURN NULL;
  END IF;
  INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, changed_at)
  VALUES (NEW.member_id, CASE WHEN TG_OP = 'INSERT' THEN '' ELSE OLD.tier END, NEW.tier,
          coalesce(nullif(current_setting('coalition.tier_reason', true), ''), 'earn'), NEW.tier_since);
  RETURN NULL;
END $$"""


def upgrade() -> None:
    op.create_table(
        'tier_changes',
        sa.Column('change_id', sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('from_tier', sa.String(length=32), nullable=False),
        sa.Column('to_tier', sa.String(length=32), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('change_id'),
    )
    op.create_index('ix_tier_changes_member', 'tier_changes', ['member_id', 'changed_at'])
    op.create_index('ix_tier_changes_changed', 'tier_changes', ['changed_at'])
    op.execute(_TRIGGER_FUNCTION)
    # an update fires only when the tier changes (the earn's upsert names the column on every earn)
    op.execute("CREATE TRIGGER member_status_tier_insert AFTER INSERT ON member_status "
               "FOR EACH ROW EXECUTE FUNCTION record_tier_change()")
    op.execute("CREATE TRIGGER member_status_tier_change AFTER UPDATE OF tier ON member_status "
               "FOR EACH ROW WHEN (OLD.tier IS DISTINCT FROM NEW.tier) EXECUTE FUNCTION record_tier_change()")
    op.create_table(
        'member_birthdays',
        sa.Column('member_id', postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column('birth_month', sa.SmallInteger(), nullable=False),
        sa.Column('birth_day', sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint('member_id'),
        sa.CheckConstraint('birth_month BETWEEN 1 AND 12 AND birth_day BETWEEN 1 AND 31', name='member_birthday'),
    )
    op.create_index('ix_member_birthdays_day', 'member_birthdays', ['birth_month', 'birth_day'])
    op.drop_constraint('campaign_kind', 'campaigns', type_='check')
    op.create_check_constraint('campaign_kind', 'campaigns',
                               "kind in ('earn','signup','referral','anniversary','birthday')")
    op.add_column('campaigns', sa.Column('owner_partner_id', sa.String(length=32), nullable=True))
    op.create_index('ix_campaigns_owner', 'campaigns', ['owner_partner_id'])
    op.drop_constraint('earn_component_kind', 'earn_components', type_='check')
    op.create_check_constraint('earn_component_kind', 'earn_components',
                               "kind in ('base','tier','campaign','signup','referral','anniversary','birthday')")


def downgrade() -> None:
    op.drop_index('ix_campaigns_owner', table_name='campaigns')
    op.drop_column('campaigns', 'owner_partner_id')
    op.drop_constraint('earn_component_kind', 'earn_components', type_='check')
    op.create_check_constraint('earn_component_kind', 'earn_components',
                               "kind in ('base','tier','campaign','signup','referral','anniversary')")
    op.drop_constraint('campaign_kind', 'campaigns', type_='check')
    op.create_check_constraint('campaign_kind', 'campaigns', "kind in ('earn','signup','referral','anniversary')")
    op.drop_index('ix_member_birthdays_day', table_name='member_birthdays')
    op.drop_table('member_birthdays')
    op.execute("DROP TRIGGER member_status_tier_change ON member_status")
    op.execute("DROP TRIGGER member_status_tier_insert ON member_status")
    op.execute("DROP FUNCTION record_tier_change()")
    op.drop_index('ix_tier_changes_changed', table_name='tier_changes')
    op.drop_index('ix_tier_changes_member', table_name='tier_changes')
    op.drop_table('tier_changes')
