"""invitations: an index on the patient session's hash (every page and submission of a patient
visit looks its session up by it; without the index each lookup read the whole table)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 03:40:00.000000
"""

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_invitations_patient_session', 'invitations', ['patient_session_hash'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_invitations_patient_session', table_name='invitations')
