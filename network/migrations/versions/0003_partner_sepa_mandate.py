"""partners: the SEPA direct debit mandate each partner signed (id and signature date)

Partners created before this revision were collected under a mandate id derived from their partner id
('COAL-<partner id>', 35 characters at most) signed on the day they joined; those values are written into the
new columns so their collections go on exactly as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 12:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('partners', sa.Column('sepa_mandate_id', sa.String(length=35), nullable=True))
    op.add_column('partners', sa.Column('sepa_mandate_signed_on', sa.Date(), nullable=True))
    op.execute("UPDATE partners SET sepa_mandate_id = left('COAL-' || partner_id, 35), "
               "sepa_mandate_signed_on = (created_at AT TIME ZONE 'UTC')::date")
    op.create_check_constraint('partner_mandate', 'partners',
                               '(sepa_mandate_id IS NULL) = (sepa_mandate_signed_on IS NULL)')


def downgrade() -> None:
    op.drop_constraint('partner_mandate', 'partners', type_='check')
    op.drop_column('partners', 'sepa_mandate_signed_on')
    op.drop_column('partners', 'sepa_mandate_id')
