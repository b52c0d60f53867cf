"""hold_members: which member each hold belongs to, by hold id. Capture and Void get a hold id alone (the wire
carries no member id); they read the hold's member here first, then the hold and its allocations by member. On a
Citus cluster holds are distributed by member_id, and this table by hold_id in a colocation group of its own, so
each of those reads goes to one shard (network.store.citus.LOOKUPS). Written with the hold, by Authorize;
`coalition ledger verify` checks it against the holds (network.store.verify.check_hold_members). Filled here from
the holds already written.

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 22:20:00.000000
"""
import sqlalchemy as sa
from alembic import op

from network.store import citus

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'hold_members',
        sa.Column('hold_id', sa.UUID(), nullable=False),
        sa.Column('member_id', sa.UUID(), nullable=False),
        sa.PrimaryKeyConstraint('hold_id'),
    )
    op.execute("INSERT INTO hold_members (hold_id, member_id) SELECT hold_id, member_id FROM holds")
    if citus.citus_installed(op.get_bind()):  # 0013's plan ran: distribute the lookup by its own key (citus.LOOKUPS)
        op.execute("SELECT create_distributed_table('hold_members', 'hold_id', colocate_with => 'none')")


def downgrade() -> None:
    op.drop_table('hold_members')
