"""hold_allocations.member_id: every hold allocation names its hold's member (holds.member_id), so that a capture or
a void reads its hold's allocations by member. On a Citus cluster hold allocations are distributed by member_id
(network.store.citus): with the column filled by every insert, Authorize's insert and Capture's and Void's reads are
router-executable. `coalition ledger verify` rebuilds it with the rest of each allocation from the hold's postings
(network.store.verify.check_hold_allocations_rebuild). Where migration 0013 already added the column (Citus), this
finds it there.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 22:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    present = op.get_bind().execute(sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = 'hold_allocations' AND column_name = 'member_id'")).first()
    if present:  # migration 0013 distributed hold_allocations on Citus, with the column added and filled
        return
    op.execute("ALTER TABLE hold_allocations ADD COLUMN member_id uuid")
    op.execute("UPDATE hold_allocations a SET member_id = h.member_id FROM holds h WHERE h.hold_id = a.hold_id")
    op.execute("ALTER TABLE hold_allocations ALTER COLUMN member_id SET NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE hold_allocations DROP COLUMN member_id")
