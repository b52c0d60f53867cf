"""member record retention: indexes by time on the members' security records that housekeeping deletes once past
member_records_retention_days (network.store.retention): login events, login codes, portal sessions and one-time
redemption codes (verification failures have theirs since 0015).

Revision ID: 0017
Revises: 0013
Create Date: 2026-11-30 19:00:00.000000
"""
from alembic import op

revision = '0017'
down_revision = '0013'
branch_labels = None
depends_on = None

INDEXES = (('ix_login_events_time', 'login_events', 'at'),
           ('ix_login_codes_expiry', 'login_codes', 'expires_at'),
           ('ix_member_sessions_expiry', 'member_sessions', 'expires_at'),
           ('ix_redemption_codes_expiry', 'redemption_codes', 'expires_at'))


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in INDEXES:
        op.drop_index(name, table_name=table)
