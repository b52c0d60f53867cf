"""shard_heads.anchor_member_id: each chain shard's head names a member id that a Citus cluster places in that
shard's hash range (network.core.members.chain_anchor), so every statement that locks or moves a head filters on
the column a cluster distributes the heads by (network.store.citus), and the journal code names heads by it.
Anchors never change once written: every server process reads them once (network.store.journal.chain_anchors).
Filled here for the heads already written, for as many shards as the ledger has. Where the Citus plan of 0013
ran, the column is already in place and anchored.

The members follow: a member's chain shard becomes the range its id hashes into (network.core.members.shard_of,
the way Citus places it), so on a cluster a member's rows and its chain head lie on one node. Members enrolled
before are moved onto it here; their earlier journal rows stay where they were chained (each shard's chain is
whole; a member's transactions were never required to share one).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 23:40:00.000000
"""
import sqlalchemy as sa
from alembic import op

from network.core.members import chain_anchor

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    shards = [row[0] for row in conn.execute(sa.text("SELECT shard FROM shard_heads ORDER BY shard"))]
    count = shards[-1] + 1 if shards else 0
    if count:  # uuid_hash: the server's own, as network.core.members.uuid_hash computes it
        conn.execute(sa.text("UPDATE members SET shard = least((uuid_hash(member_id)::bigint + 2147483648) "
                             "/ (4294967296 / :n), :n - 1)"), {"n": count})
    if conn.execute(sa.text("SELECT 1 FROM information_schema.columns WHERE table_name = 'shard_heads' "
                            "AND column_name = 'anchor_member_id'")).first():
        return
    op.add_column('shard_heads', sa.Column('anchor_member_id', sa.UUID(), nullable=True))
    if shards:
        conn.execute(sa.text("UPDATE shard_heads SET anchor_member_id = :a WHERE shard = :s"),
                     [{"s": s, "a": chain_anchor(s, count)} for s in shards])
    op.alter_column('shard_heads', 'anchor_member_id', nullable=False)
    op.create_unique_constraint('shard_heads_anchor_member_id_key', 'shard_heads', ['anchor_member_id'])


def downgrade() -> None:
    op.drop_constraint('shard_heads_anchor_member_id_key', 'shard_heads', type_='unique')
    op.drop_column('shard_heads', 'anchor_member_id')
