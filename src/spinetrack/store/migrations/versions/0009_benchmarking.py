"""registry benchmarking: the operating surgeon of a procedure, and each site's opt-in to
surgeon-level benchmarking (issue 21)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('benchmark_surgeons', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('surgeon', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.drop_column('surgeon')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('benchmark_surgeons')
