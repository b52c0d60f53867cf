"""postings.member_id: every posting names its transaction's member (journal.member_id), so that the postings of
one member's transactions can be found, and written, by member. On a Citus cluster postings are distributed by
member_id (network.store.citus): with the column filled by every insert, the earn and spend paths' posting inserts
are router-executable. `coalition ledger verify` checks each posting's member against its journal row (the column
is linked, not hashed: network.store.verify.check_posting_members). Where migration 0013 already added the column
(Citus), this finds it there. On a large ledger the fill rewrites every posting row once: run it at a quiet time.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 21:30:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = op.get_bind().execute(sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'postings' AND column_name = 'member_id'")).first()
    if present:  # migration 0013 distributed postings on Citus, with the column added and filled
        return
    op.execute("ALTER TABLE postings ADD COLUMN member_id uuid")
    op.execute("UPDATE postings p SET member_id = j.member_id FROM journal j WHERE j.tx_id = p.tx_id")
    op.execute("ALTER TABLE postings ALTER COLUMN member_id SET NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE postings DROP COLUMN member_id")
