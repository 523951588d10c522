"""replan requests (re-planning as an event the worker picks up) and how far each
partner's reminders are planned (a steady planning pass skips the rest)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('replan_requests',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_replan_requests_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_replan_requests'))
    )
    op.create_table('reminder_plans',
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_slot_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reminder_plans_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_reminder_plans'))
    )
    with op.batch_alter_table('reminder_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_plans_next_slot_at'), ['next_slot_at'], unique=False)


def downgrade():
    with op.batch_alter_table('reminder_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_plans_next_slot_at'))
    op.drop_table('reminder_plans')
    op.drop_table('replan_requests')
