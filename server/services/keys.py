"""Key rotation: re-encrypting stored free text, and recomputing keyed fingerprints, with
the newest data key.

What else is stored about secrets, and why it is safe in a copy of the database:
- `invites.code_hash`, `refresh_tokens.token_hash`, `account_tokens.token_hash`: unkeyed
  SHA-256, on purpose — they are looked up by hash, and the values are random (80-bit
  invite and recovery codes, 256-bit refresh, verification and reset tokens), too many
  to guess; a digest of a random secret confirms nothing.
- `outbound_emails.message_encrypted`: an email waiting to be sent (address, live link),
  encrypted, and blanked once sent.
- `checkins.body_hash`: a *keyed* fingerprint (HMAC) of free text — a plain digest of it
  would confirm a guessed reflection — recomputed here with the newest key.
- `checkins.answers`: ratings and choices only; text answers are in `text_encrypted`.
- `audit_events.detail` holds stage numbers; reminder payloads are fixed, discreet
  wording (the partner's own wording is `reminder_settings.text_encrypted`).
- `devices.token`: an FCM registration token, kept as it is because it must be sent to
  FCM; it is not free text, and pushing to it needs the server's Firebase credentials,
  which are not in the database.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from server.crypto import cipher
from server.extensions import db
from server.models import (
    Assignment,
    AssignmentEvent,
    CheckIn,
    Invite,
    OutboundEmail,
    ReminderPreferences,
)
from server.services.checkins import stored_body_hash

log = logging.getLogger(__name__)

# Every encrypted column in the schema; a test checks that none is missing.
ENCRYPTED_COLUMNS: tuple[tuple[type[Any], str], ...] = (
    (CheckIn, "text_encrypted"),
    (Assignment, "note_encrypted"),
    (AssignmentEvent, "reason_encrypted"),
    (Invite, "code_encrypted"),
    (ReminderPreferences, "text_encrypted"),
    (OutboundEmail, "message_encrypted"),
)
BATCH = 500


# Every `*_hash` column, by kind; a test checks that none is missing.
# Keyed fingerprints (HMAC with a key derived from each data key), recomputed below.
FINGERPRINT_COLUMNS = ("checkins.body_hash",)
# Plain SHA-256 of random secrets of at least 80 bits: nothing to guess.
RANDOM_SECRET_DIGESTS = (
    "invites.code_hash",
    "refresh_tokens.token_hash",
    "account_tokens.token_hash",
)
# Salted, slow password hashes (argon2).
PASSWORD_HASHES = ("users.password_hash",)


def rotate_data_keys() -> dict[str, int]:
    """Re-encrypt every encrypted value and recompute every keyed fingerprint with the
    newest key; returns counts per column.

    Afterwards the older keys can be removed from TANDEM_DATA_KEYS. Runs in batches,
    each committed, so it can be interrupted and run again (a fingerprint made with
    any configured key still matches meanwhile).
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
    counts["checkins.body_hash"] = rekey_checkin_fingerprints()
    return counts


def rekey_checkin_fingerprints() -> int:
    """Recompute every check-in's fingerprint with the newest key, from the stored
    check-in (see `server.services.checkins.fingerprint_text`); returns the count."""
    columns = (
        CheckIn.id,
        CheckIn.assignment_id,
        CheckIn.exercise,
        CheckIn.occurred_at,
        CheckIn.answers,
        CheckIn.text_encrypted,
        CheckIn.visibility,
        CheckIn.flags,
    )
    done = 0
    last: str | None = None
    while True:
        query = select(*columns).order_by(CheckIn.id).limit(BATCH)
        if last is not None:
            query = query.where(CheckIn.id > last)
        rows = db.session.execute(query).all()
        if not rows:
            break
        db.session.execute(
            update(CheckIn),
            [{"id": row.id, "body_hash": fingerprint_of_row(row)} for row in rows],
        )
        db.session.commit()
        done += len(rows)
        last = rows[-1].id
    return done


def fingerprint_of_row(row: Any) -> str:
    """The newest-key fingerprint of a check-in row (with the columns selected above)."""
    return stored_body_hash(
        checkin_id=row.id,
        assignment_id=row.assignment_id,
        exercise=row.exercise,
        occurred_at=row.occurred_at,
        answers=row.answers,
        text_encrypted=row.text_encrypted,
        visibility=row.visibility,
        flags=row.flags,
    )
