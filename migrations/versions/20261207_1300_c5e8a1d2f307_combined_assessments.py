"""combined assessments (综合考核): assessments, their parts, imported sheet scores

Revision ID: c5e8a1d2f307
Revises: b4d2f0c9e813
Create Date: 2026-12-07 13:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5e8a1d2f307'
down_revision = 'b4d2f0c9e813'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assessments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('committee_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('levels_json', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['committee_id'], ['committees.id'], name=op.f('fk_assessments_committee_id_committees')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_assessments_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessments'))
    )
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessments_committee_id'), ['committee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessments_year'), ['year'], unique=False)

    op.create_table('assessment_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assessment_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=60), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=True),
    sa.Column('section', sa.String(length=40), nullable=False),
    sa.Column('weight', sa.String(length=20), nullable=False),
    sa.Column('sheet_name', sa.String(length=200), nullable=False),
    sa.Column('sheet_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['assessment_id'], ['assessments.id'], name=op.f('fk_assessment_parts_assessment_id_assessments')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_assessment_parts_round_id_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_parts')),
    sa.UniqueConstraint('assessment_id', 'label', name=op.f('uq_assessment_parts_assessment_id'))
    )
    with op.batch_alter_table('assessment_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_parts_assessment_id'), ['assessment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_parts_round_id'), ['round_id'], unique=False)

    op.create_table('assessment_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('part_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('score', sa.String(length=20), nullable=False),
    sa.Column('matched_by', sa.String(length=20), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_assessment_scores_member_id_members')),
    sa.ForeignKeyConstraint(['part_id'], ['assessment_parts.id'], name=op.f('fk_assessment_scores_part_id_assessment_parts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assessment_scores')),
    sa.UniqueConstraint('part_id', 'member_id', name=op.f('uq_assessment_scores_part_id'))
    )
    with op.batch_alter_table('assessment_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assessment_scores_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assessment_scores_part_id'), ['part_id'], unique=False)


def downgrade():
    with op.batch_alter_table('assessment_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_scores_part_id'))
        batch_op.drop_index(batch_op.f('ix_assessment_scores_member_id'))
    op.drop_table('assessment_scores')
    with op.batch_alter_table('assessment_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessment_parts_round_id'))
        batch_op.drop_index(batch_op.f('ix_assessment_parts_assessment_id'))
    op.drop_table('assessment_parts')
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assessments_year'))
        batch_op.drop_index(batch_op.f('ix_assessments_committee_id'))
    op.drop_table('assessments')
