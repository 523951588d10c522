"""sessions: when each login ends, and a label of the client that signed in

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:30:00

`login_sessions.expires_at` is when a login ends unless it is used again: each use moves
it 30 days on, never past 90 days after sign-in (portal logins: 2 hours on, never past
12 hours). `login_sessions.client` is a short label ("Firefox on Windows", "portal"),
never the raw User-Agent.

Existing logins get the end the new rules give them from their `created_at` and
`last_used_at`; a login without refresh tokens is a portal login (API logins always
have one) and is labelled "portal"; other existing logins have no label (shown as an
unknown device). Ended logins get their `created_at`.

SQLite adds a NOT NULL column only with a constant default: the column is added with
one (the epoch, i.e. already ended), every row is then given its real end, and on
PostgreSQL the default is dropped again (SQLite would have to rebuild the table, which
would cascade-delete its refresh tokens and devices; the app always sets the column).
"""
from datetime import timedelta

from alembic import op
import sqlalchemy as sa

from server.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

API_IDLE, API_MAX_AGE = timedelta(days=30), timedelta(days=90)
PORTAL_IDLE, PORTAL_MAX_AGE = timedelta(hours=2), timedelta(hours=12)
EPOCH = '1970-01-01 00:00:00'

login_sessions = sa.table(
    'login_sessions',
    sa.column('id', sa.String(36)),
    sa.column('created_at', UTCDateTime()),
    sa.column('last_used_at', UTCDateTime()),
    sa.column('revoked_at', UTCDateTime()),
    sa.column('expires_at', UTCDateTime()),
    sa.column('client', sa.String(40)),
)
refresh_tokens = sa.table('refresh_tokens', sa.column('session_id', sa.String(36)))


def upgrade():
    with op.batch_alter_table('login_sessions', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False, server_default=EPOCH))
        batch_op.add_column(sa.Column('client', sa.String(length=40), nullable=True))

    connection = op.get_bind()
    op.execute(
        login_sessions.update()
        .where(login_sessions.c.revoked_at.is_not(None))
        .values(expires_at=login_sessions.c.created_at)
    )
    has_tokens = sa.select(refresh_tokens.c.session_id).where(
        refresh_tokens.c.session_id == login_sessions.c.id
    ).exists()
    rows = connection.execute(
        sa.select(
            login_sessions.c.id,
            login_sessions.c.created_at,
            login_sessions.c.last_used_at,
            has_tokens.label('api'),
        ).where(login_sessions.c.revoked_at.is_(None))
    ).all()
    write = (
        login_sessions.update()
        .where(login_sessions.c.id == sa.bindparam('row_id'))
        .values(expires_at=sa.bindparam('end'), client=sa.bindparam('label'))
    )
    updates = []
    for row in rows:
        idle, max_age = (API_IDLE, API_MAX_AGE) if row.api else (PORTAL_IDLE, PORTAL_MAX_AGE)
        updates.append({
            'row_id': row.id,
            'end': min(row.last_used_at + idle, row.created_at + max_age),
            'label': None if row.api else 'portal',
        })
    if updates:
        connection.execute(write, updates)

    if connection.dialect.name != 'sqlite':
        with op.batch_alter_table('login_sessions', schema=None) as batch_op:
            batch_op.alter_column('expires_at', server_default=None)


def downgrade():
    with op.batch_alter_table('login_sessions', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('client')
        batch_op.drop_column('expires_at')
