"""measures: questionnaire schedules per couple and partners' responses

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('measure_schedules',
    sa.Column('couple_id', sa.String(length=36), nullable=False),
    sa.Column('measure', sa.String(length=32), nullable=False),
    sa.Column('every_weeks', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['couple_id'], ['couples.id'], name=op.f('fk_measure_schedules_couple_id_couples'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_measure_schedules_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_measure_schedules')),
    sa.UniqueConstraint('couple_id', 'measure', name=op.f('uq_measure_schedules_couple_id'))
    )
    op.create_table('measure_responses',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('couple_id', sa.String(length=36), nullable=False),
    sa.Column('author_id', sa.String(length=36), nullable=False),
    sa.Column('measure', sa.String(length=32), nullable=False),
    sa.Column('measure_version', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('band', sa.String(length=40), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('due_since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_measure_responses_author_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_measure_responses'))
    )
    with op.batch_alter_table('measure_responses', schema=None) as batch_op:
        batch_op.create_index('ix_measure_responses_author_id_measure', ['author_id', 'measure'], unique=False)
        batch_op.create_index('ix_measure_responses_couple_id_completed_at', ['couple_id', 'completed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('measure_responses', schema=None) as batch_op:
        batch_op.drop_index('ix_measure_responses_couple_id_completed_at')
        batch_op.drop_index('ix_measure_responses_author_id_measure')
    op.drop_table('measure_responses')
    op.drop_table('measure_schedules')
