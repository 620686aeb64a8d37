"""accounts: one-time set-password links, sign-in throttle in the database, demo marker,
last sign-in and the notices a session shows

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 02:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# The demo logins as `spinetrack demo` created them before this revision (user name, display
# name): marked as demo accounts so that production refuses them. Frozen here on purpose.
_DEMO_USERS = (
    ("north.clinician", "Dr N. Demo (North)"), ("north.coordinator", "C. Demo (North)"),
    ("central.clinician", "Dr C. Demo (Central)"), ("south.clinician", "Dr S. Demo (South)"),
    ("researcher", "R. Demo (research)"), ("admin", "A. Demo (admin)"),
)


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('demo', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('last_login_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('demo', server_default=None)
    users = sa.table('users', sa.column('username', sa.String), sa.column('display_name', sa.String),
                     sa.column('demo', sa.Boolean))
    for username, display in _DEMO_USERS:
        op.execute(users.update().where(users.c.username == username, users.c.display_name == display)
                   .values(demo=True))
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notices_since', sa.DateTime(), nullable=True))

    op.create_table('password_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'],
        name=op.f('fk_password_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_links_token_hash'))
    )
    with op.batch_alter_table('password_links', schema=None) as batch_op:
        batch_op.create_index('ix_password_links_user', ['user_id'], unique=False)

    op.create_table('login_throttle',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key_hash', name=op.f('pk_login_throttle'))
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
    with op.batch_alter_table('password_links', schema=None) as batch_op:
        batch_op.drop_index('ix_password_links_user')
    op.drop_table('password_links')
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_column('notices_since')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('last_login_at')
        batch_op.drop_column('demo')
