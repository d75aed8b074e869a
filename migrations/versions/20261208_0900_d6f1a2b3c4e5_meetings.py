"""meetings (测评会): several rounds (forms) on one slip

Revision ID: d6f1a2b3c4e5
Revises: c5e8a1d2f307
Create Date: 2026-12-08 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd6f1a2b3c4e5'
down_revision = 'c5e8a1d2f307'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('committee_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('submit_mode', sa.String(length=10), server_default='each', nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['committee_id'], ['committees.id'], name=op.f('fk_meetings_committee_id_committees')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_meetings_created_by_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings'))
    )
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meetings_committee_id'), ['committee_id'], unique=False)

    op.create_table('meeting_forms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('round_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_meeting_forms_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['round_id'], ['rounds.id'], name=op.f('fk_meeting_forms_round_id_rounds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meeting_forms')),
    sa.UniqueConstraint('round_id', name=op.f('uq_meeting_forms_round_id'))
    )
    with op.batch_alter_table('meeting_forms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_meeting_forms_meeting_id'), ['meeting_id'], unique=False)


def downgrade():
    with op.batch_alter_table('meeting_forms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meeting_forms_meeting_id'))
    op.drop_table('meeting_forms')
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_meetings_committee_id'))
    op.drop_table('meetings')
