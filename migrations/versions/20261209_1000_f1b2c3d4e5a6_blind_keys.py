"""session QR by RSA blind signatures: blind_keys replaces the sealed session_pool

Revision ID: f1b2c3d4e5a6
Revises: e7a2b9c4d150
Create Date: 2026-12-09 10:00:00

Unclaimed pooled tokens of rounds open at the upgrade are dropped (claimed ones
still vote: they are in `tokens`); such a round's organizer allows claims again
(POST /rounds/{id}/session-pool), which makes its keys.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f1b2c3d4e5a6'
down_revision = 'e7a2b9c4d150'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('blind_keys',
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sealed_private_key', sa.Text(), nullable=True),
    sa.Column('allowance', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['voter_categories.id'],
                            name=op.f('fk_blind_keys_category_id_voter_categories')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'],
                            name=op.f('fk_blind_keys_round_id_rounds')),
    sa.PrimaryKeyConstraint('round_id', 'category_id', name=op.f('pk_blind_keys'))
    )
    with op.batch_alter_table('session_pool', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_pool_round_id'))
    op.drop_table('session_pool')


def downgrade():
    op.create_table('session_pool',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('sealed_token', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['voter_categories.id'],
                            name=op.f('fk_session_pool_category_id_voter_categories')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'],
                            name=op.f('fk_session_pool_round_id_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_pool'))
    )
    with op.batch_alter_table('session_pool', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_pool_round_id'), ['round_id'], unique=False)
    op.drop_table('blind_keys')
