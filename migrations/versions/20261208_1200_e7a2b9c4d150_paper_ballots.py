"""paper ballots (纸质票): paper slips per voter category, sheets entered twice

Revision ID: e7a2b9c4d150
Revises: d6f1a2b3c4e5
Create Date: 2026-12-08 12:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e7a2b9c4d150'
down_revision = 'd6f1a2b3c4e5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('voter_categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paper_issued', sa.Integer(), server_default='0',
                                      nullable=False))

    op.create_table('paper_ballots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('first_by', sa.Integer(), nullable=False),
    sa.Column('first_answers', sa.Text(), nullable=False),
    sa.Column('first_invalid', sa.String(length=20), nullable=False),
    sa.Column('second_by', sa.Integer(), nullable=True),
    sa.Column('second_answers', sa.Text(), nullable=False),
    sa.Column('second_invalid', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['category_id'], ['voter_categories.id'],
                            name=op.f('fk_paper_ballots_category_id_voter_categories')),
    sa.ForeignKeyConstraint(['first_by'], ['users.id'],
                            name=op.f('fk_paper_ballots_first_by_users')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'],
                            name=op.f('fk_paper_ballots_round_id_rounds')),
    sa.ForeignKeyConstraint(['second_by'], ['users.id'],
                            name=op.f('fk_paper_ballots_second_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_ballots')),
    sa.UniqueConstraint('round_id', 'number', name=op.f('uq_paper_ballots_round_id'))
    )
    with op.batch_alter_table('paper_ballots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_ballots_round_id'), ['round_id'], unique=False)


def downgrade():
    with op.batch_alter_table('paper_ballots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_ballots_round_id'))
    op.drop_table('paper_ballots')
    with op.batch_alter_table('voter_categories', schema=None) as batch_op:
        batch_op.drop_column('paper_issued')
