"""keyed body hash

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 08:30:00

`checkins.body_hash` was an unkeyed SHA-256 of the whole check-in request, reflection
included: a copy of the database could confirm a guessed reflection with it. It is now a
keyed fingerprint (HMAC-SHA256 with a key derived from the newest data key, see
`server.crypto` and `server.services.checkins.fingerprint_text`). This recomputes every
stored row's fingerprint from the row itself (its answers, its decrypted text, its
flags), so an offline retry of a check-in stored before the upgrade still answers 200
and a different body still 409. No unkeyed digest survives.

A row whose text none of the configured data keys decrypts (the server cannot show it
either) gets `UNVERIFIABLE`, which matches no request: a retry of it answers 409, never
a duplicate. It is counted in a warning.

The migration runs in the application context (`tandem db upgrade`, `tandem serve`), where
the data keys are. The schema does not change. Downgrading keeps the keyed values (the
old unkeyed digest is exactly what must not come back); the old code then answers 409
to a retry of a check-in stored before the downgrade.
"""
import logging

from alembic import op
import sqlalchemy as sa

from server.db import UTCDateTime
from server.services.checkins import stored_body_hash

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

UNVERIFIABLE = "unverifiable"  # not hex: equal to no HMAC
BATCH = 500

checkins = sa.table(
    "checkins",
    sa.column("id", sa.String(36)),
    sa.column("assignment_id", sa.String(36)),
    sa.column("exercise", sa.String(64)),
    sa.column("occurred_at", UTCDateTime()),
    sa.column("answers", sa.JSON()),
    sa.column("text_encrypted", sa.Text()),
    sa.column("visibility", sa.String(16)),
    sa.column("flags", sa.JSON()),
    sa.column("body_hash", sa.String(64)),
)


def upgrade():
    connection = op.get_bind()
    write = (
        sa.update(checkins)
        .where(checkins.c.id == sa.bindparam("row_id"))
        .values(body_hash=sa.bindparam("fingerprint"))
    )
    last = None
    unverifiable = 0
    while True:
        query = (
            sa.select(
                checkins.c.id,
                checkins.c.assignment_id,
                checkins.c.exercise,
                checkins.c.occurred_at,
                checkins.c.answers,
                checkins.c.text_encrypted,
                checkins.c.visibility,
                checkins.c.flags,
            )
            .order_by(checkins.c.id)
            .limit(BATCH)
        )
        if last is not None:
            query = query.where(checkins.c.id > last)
        rows = connection.execute(query).all()
        if not rows:
            break
        updates = []
        for row in rows:
            try:
                fingerprint = stored_body_hash(
                    checkin_id=row.id,
                    assignment_id=row.assignment_id,
                    exercise=row.exercise,
                    occurred_at=row.occurred_at,
                    answers=row.answers,
                    text_encrypted=row.text_encrypted,
                    visibility=row.visibility,
                    flags=row.flags or [],
                )
            except ValueError:
                fingerprint = UNVERIFIABLE
                unverifiable += 1
            updates.append({"row_id": row.id, "fingerprint": fingerprint})
        connection.execute(write, updates)
        last = rows[-1].id
    if unverifiable:
        log.warning(
            "%d check-in(s) could not be decrypted with TANDEM_DATA_KEYS: their retries "
            "will answer 409",
            unverifiable,
        )


def downgrade():
    pass
