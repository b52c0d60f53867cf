"""postings.member_id and hold_allocations.member_id: every posting names its transaction's member
(journal.member_id) and every hold allocation its hold's (holds.member_id), so that a member's postings and a hold's
allocations are written and read by member. On a Citus cluster both tables are distributed by member_id
(network.store.citus): with the column filled by every insert, those statements are router-executable. `coalition
ledger verify` checks a posting's member against its journal row (linked: network.store.verify.
check_posting_members) and rebuilds an allocation's from its hold transaction (derived: check_hold_allocations_
rebuild). Where migration 0013 already added a column (the Citus plan ran), this finds it there. On a large ledger
the fill rewrites every posting row once: run it at a quiet time.

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

# table -> the statement filling its new member_id from where it is known
FILLS = {
    "postings": "UPDATE postings p SET member_id = j.member_id FROM journal j WHERE j.tx_id = p.tx_id",
    "hold_allocations": "UPDATE hold_allocations a SET member_id = h.member_id FROM holds h "
                        "WHERE h.hold_id = a.hold_id",
}


def upgrade() -> None:
    for table, fill in FILLS.items():
        present = op.get_bind().execute(sa.text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = :t AND column_name = 'member_id'"), {"t": table}).first()
        if present:  # migration 0013 distributed the table on Citus, with the column added and filled
            continue
        op.execute(f"ALTER TABLE {table} ADD COLUMN member_id uuid")
        op.execute(fill)
        op.execute(f"ALTER TABLE {table} ALTER COLUMN member_id SET NOT NULL")


def downgrade() -> None:
    for table in reversed(FILLS):
        op.execute(f"ALTER TABLE {table} DROP COLUMN member_id")
