"""On a Citus cluster, the member-keyed tables of the programme and of consent that an earn or a spend touches
(network.store.citus.MEMBER_TABLES: tiers held, qualifying points, last activity, birthdays, PIN credentials,
campaign cap totals, earn components, one-time codes) are distributed by member id, co-located with `members`:
each earn and spend then writes one node, not that node and the coordinator. Runs only where 0013's plan
distributed `members`; on a plain PostgreSQL it does nothing.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 00:25:00.000000
"""
import sqlalchemy as sa
from alembic import op

from network.store import citus

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if not citus.citus_installed(conn):
        return
    if not conn.execute(sa.text("SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'members'::regclass")).first():
        return
    keys = {table: tuple(row[0] for row in conn.execute(sa.text(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = CAST(:t AS regclass) AND i.indisprimary"), {"t": table})) for table in citus.MEMBER_TABLES}
    for statement in citus.member_tables_plan(keys):
        op.execute(statement)


def downgrade() -> None:
    pass  # a distributed table stays distributed (Citus' undistribute_table is an operator's decision)
