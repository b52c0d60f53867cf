"""no triggers: the code writes what the two triggers wrote, in the same statements or transactions, because Citus
refuses a trigger on a distributed table (members and member_status are distributed there: network.store.citus).

- members_card (0008): the cards row of a member inserted is written by every insert of members
  (network.store.credentials.ADD_CARD, ADD_CARDS_OF).
- member_status_tier_insert / member_status_tier_change (0016): a change of tier is recorded in tier_changes by the
  statement making it (network.store.earn_plan.UPSERT_STATUS for upgrades, network.store.tiers for the review's moves
  down); the transaction setting coalition.tier_reason is gone with them.

Nothing else changes: the rows already written stay. IF EXISTS: on a Citus cluster the distribution plans dropped
them already (0013, 0022).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-01 02:10:00.000000
"""
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS members_card ON members")
    op.execute("DROP FUNCTION IF EXISTS coalition_member_card()")
    op.execute("DROP TRIGGER IF EXISTS member_status_tier_insert ON member_status")
    op.execute("DROP TRIGGER IF EXISTS member_status_tier_change ON member_status")
    op.execute("DROP FUNCTION IF EXISTS record_tier_change()")


def downgrade() -> None:
    op.execute("""CREATE FUNCTION coalition_member_card() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO cards (card_number, member_id, status, created_at)
  VALUES (NEW.card_number, NEW.member_id, 'active', NEW.created_at) ON CONFLICT (card_number) DO NOTHING;
  RETURN NEW;
END $$""")
    op.execute("CREATE TRIGGER members_card AFTER INSERT ON members "
               "FOR EACH ROW EXECUTE FUNCTION coalition_member_card()")
    op.execute("""CREATE FUNCTION record_tier_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' AND NEW.tier = (SELECT name FROM tiers ORDER BY rank LIMIT 1) THEN
    RETURN NULL;
  END IF;
  INSERT INTO tier_changes (member_id, from_tier, to_tier, reason, changed_at)
  VALUES (NEW.member_id, CASE WHEN TG_OP = 'INSERT' THEN '' ELSE OLD.tier END, NEW.tier,
          coalesce(nullif(current_setting('coalition.tier_reason', true), ''), 'earn'), NEW.tier_since);
  RETURN NULL;
END $$""")
    op.execute("CREATE TRIGGER member_status_tier_insert AFTER INSERT ON member_status "
               "FOR EACH ROW EXECUTE FUNCTION record_tier_change()")
    op.execute("CREATE TRIGGER member_status_tier_change AFTER UPDATE OF tier ON member_status "
               "FOR EACH ROW WHEN (OLD.tier IS DISTINCT FROM NEW.tier) EXECUTE FUNCTION record_tier_change()")
