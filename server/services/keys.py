"""Re-encrypting stored free text with the newest data key (key rotation)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from server.crypto import cipher
from server.extensions import db
from server.models import Assignment, AssignmentEvent, CheckIn, Invite, ReminderPreferences

log = logging.getLogger(__name__)

# Every encrypted column in the schema; a test checks that none is missing.
ENCRYPTED_COLUMNS: tuple[tuple[type[Any], str], ...] = (
    (CheckIn, "text_encrypted"),
    (Assignment, "note_encrypted"),
    (AssignmentEvent, "reason_encrypted"),
    (Invite, "code_encrypted"),
    (ReminderPreferences, "text_encrypted"),
)
BATCH = 500


def rotate_data_keys() -> dict[str, int]:
    """Re-encrypt every encrypted value with the newest key; returns counts per column.

    Afterwards the older keys can be removed from TANDEM_DATA_KEYS. Runs in batches,
    each committed, so it can be interrupted and run again.
    """
    counts: dict[str, int] = {}
    for model, column_name in ENCRYPTED_COLUMNS:
        column = getattr(model, column_name)
        key = model.__mapper__.primary_key[0]
        done = 0
        last: str | None = None
        while True:
            query = select(key, column).where(column.is_not(None)).order_by(key).limit(BATCH)
            if last is not None:
                query = query.where(key > last)
            rows = db.session.execute(query).all()
            if not rows:
                break
            for row_id, token in rows:
                db.session.execute(
                    update(model).where(key == row_id).values({column_name: cipher().rotate(token)})
                )
            db.session.commit()
            done += len(rows)
            last = rows[-1][0]
        counts[f"{model.__tablename__}.{column_name}"] = done
    return counts
