"""decision support: red-flag screening assessments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('screening_assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('episode_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('assessed_on', sa.Date(), nullable=False),
    sa.Column('assessed_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['episode_id'], ['episodes.id'],
        name=op.f('fk_screening_assessments_episode_id_episodes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_screening_assessments'))
    )
    with op.batch_alter_table('screening_assessments', schema=None) as batch_op:
        batch_op.create_index('ix_screening_assessments_episode', ['episode_id', 'assessed_on'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('screening_assessments', schema=None) as batch_op:
        batch_op.drop_index('ix_screening_assessments_episode')

    op.drop_table('screening_assessments')
