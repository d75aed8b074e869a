"""points star ratings: 党委综评 adjustments (reason, who, when)

Revision ID: b4d2f0c9e813
Revises: a7c3e1f25b60
Create Date: 2026-12-07 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b4d2f0c9e813'
down_revision = 'a7c3e1f25b60'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('points_star_ratings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('adjust_note', sa.String(length=200), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('adjusted_by', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('adjusted_at', sa.DateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_points_star_ratings_adjusted_by_users'),
                                    'users', ['adjusted_by'], ['id'])


def downgrade():
    with op.batch_alter_table('points_star_ratings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_points_star_ratings_adjusted_by_users'),
                                 type_='foreignkey')
        batch_op.drop_column('adjusted_at')
        batch_op.drop_column('adjusted_by')
        batch_op.drop_column('adjust_note')
