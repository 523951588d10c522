"""The same-work floor: Tandem's two hot paths done with nothing but the work they must do.

A Flask app served by the same gunicorn as Tandem (same workers, same environment). Its
two endpoints take the same requests and give the same JSON as Tandem's, through the raw
driver (psycopg 3: no ORM, no schema library, no hooks):

`GET /api/v1/me/homework`
  - the bearer access token: the same signature and age check (itsdangerous, the app's
    secret key and salt), then one statement for the login session and its user (open,
    not revoked, not expired; a partner), and the login's `last_used_at` written when
    older than a minute, as Tandem does;
  - the couple's running assignment (the columns needed, not the frozen copies: those
    are parsed once per process, as Tandem does; on a miss, one more statement);
  - the partner's own check-ins of their local week (exercise, time, declined or not);
  - the questionnaires due (schedules and the partner's latest answers, one statement);
  - the answer computed by the same pure rules Tandem applies (`exercises.program.homework`,
    `stage_limits`, `exercises.measures.due_since`), as JSON.
  Reads run in autocommit: no BEGIN/COMMIT round trips.

`POST /api/v1/checkins`
  - the same authentication; the body checked like Tandem's (`server.input_guard.parse_json`,
    then every field as `CheckInCreateSchema` checks it: unknown fields, UUID id, lengths,
    an instant with its offset, visibilities, strict booleans);
  - in one transaction: the assignment read (the author's couple's, not completed),
    the answers validated by `exercises.forms.validate_answers`, the flags raised, free
    text encrypted with the same `DataCipher`, the keyed fingerprint
    (`fingerprint_text`), the INSERT, and a re-planning request row when the
    `replan_requests` table exists (helper R's event; without it, nothing: re-planning
    is then Tandem's own synchronous extra), COMMIT; 201 with the author's view. As in
    Tandem the id is not looked up first: the INSERT (`ON CONFLICT DO NOTHING`) finds a
    stored twin, and a refused body looks the id up before answering, so a retry of a
    stored check-in still answers it (200, or 409 if it differs).
  - Flagged check-ins (a safety alert and a hold: several more rows and a push) are not
    part of the floor: the load test sends none, and the floor answers them 501.

The pure functions it calls are the rules both sides must apply; importing them pulls in
Flask and SQLAlchemy at start-up, but no request here touches the ORM or marshmallow.
Statements sent are counted in `STATEMENTS` (bench.load reports them).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from flask import Flask, Response, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from exercises.forms import flags_from_answers, validate_answers
from exercises.measures import Measure, due_since, load_measures
from exercises.model import DECLINED_KEY, FLAGS, Exercise, Program
from exercises.program import CheckinRecord, homework, local_date, week_of, week_window_utc
from server.config import load_settings
from server.crypto import DataCipher
from server.input_guard import BadJSON, parse_json
from server.services.assignments import stage_limits
from server.services.checkins import CRISIS_GUIDANCE, fingerprint_text

ACCESS_TOKEN_TTL = 15 * 60
TOUCH_EVERY = timedelta(minutes=1)
LOGIN_IDLE = timedelta(days=30)
LOGIN_MAX_AGE = timedelta(days=90)
FUTURE_TOLERANCE = timedelta(minutes=5)
VISIBILITIES = ("private", "therapist", "couple")
BODY_FIELDS = {
    "id",
    "assignment_id",
    "exercise",
    "occurred_at",
    "answers",
    "reflection",
    "visibility",
    "flags",
}

AUTH_SQL = (
    "SELECT s.id, s.created_at, s.last_used_at, s.expires_at,"
    " u.id, u.role, u.timezone, u.couple_id"
    " FROM login_sessions s JOIN users u ON u.id = s.user_id"
    " WHERE s.id = %s AND s.revoked_at IS NULL"
)
TOUCH_SQL = "UPDATE login_sessions SET last_used_at = %s, expires_at = %s WHERE id = %s"
ASSIGNMENT_SQL = (
    "SELECT id, program_version_id, stage_index, status, on_hold, start_date, overrides"
    " FROM assignments WHERE couple_id = %s ORDER BY created_at DESC LIMIT 2"
)
WEEK_SQL = (
    "SELECT exercise, occurred_at, (answers ->> 'session_declined') = 'true'"
    " FROM checkins WHERE author_id = %s AND assignment_id = %s"
    " AND occurred_at >= %s AND occurred_at < %s"
)
MEASURES_SQL = (
    "SELECT s.measure, s.started_at, s.every_weeks,"
    " (SELECT max(r.completed_at) FROM measure_responses r"
    "  WHERE r.author_id = %s AND r.measure = s.measure)"
    " FROM measure_schedules s WHERE s.couple_id = %s ORDER BY s.measure"
)
CHECKIN_COLUMNS = (
    "id, assignment_id, couple_id, author_id, exercise, stage_index, occurred_at,"
    " recorded_at, answers, text_encrypted, visibility, flags, body_hash"
)
CHECKIN_SQL = f"SELECT {CHECKIN_COLUMNS} FROM checkins WHERE id = %s"  # noqa: S608 - constant
WRITABLE_SQL = (
    "SELECT couple_id, status, stage_index, start_date, program_version_id"
    " FROM assignments WHERE id = %s"
)
INSERT_SQL = (
    f"INSERT INTO checkins ({CHECKIN_COLUMNS})"  # noqa: S608 - constant
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (id) DO NOTHING"
)
REPLAN_SQL = (
    "INSERT INTO replan_requests (user_id, requested_at) VALUES (%s, %s)"
    " ON CONFLICT (user_id) DO NOTHING"
)

assert DECLINED_KEY == "session_declined"


class Refused(Exception):
    """An answer other than success: status and a problem+json body."""

    def __init__(self, status: int, title: str, **extra: Any) -> None:
        super().__init__(title)
        self.status = status
        self.body = {"title": title, "status": status, **extra}


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _json(body: Any, status: int = 200) -> Response:
    text = json.dumps(body, default=_default, separators=(",", ":"))
    mimetype = "application/problem+json" if status >= 400 else "application/json"
    return Response(text, status=status, mimetype=mimetype)


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class Floor:
    """Per process: one connection (sync workers serve one request at a time), the
    parsed frozen copies, the questionnaires."""

    def __init__(
        self, *, conninfo: str, secret_key: str, data_keys: tuple[str, ...], catalog_path: Path
    ) -> None:
        self.conninfo = conninfo
        self.serializer = URLSafeTimedSerializer(secret_key, salt="tandem-access-token")
        self.cipher = DataCipher(data_keys)
        self.measures: dict[str, Measure] = load_measures(catalog_path)
        self.programs: dict[str, Program] = {}
        self.exercise_data: dict[str, dict[str, Any]] = {}
        self.parsed_exercises: dict[tuple[str, str], Exercise] = {}
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = 0
        self.statements = 0
        self.replans: bool | None = None

    # --- the connection ----------------------------------------------------------------

    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
            self._pid = os.getpid()
            self.replans = (
                self._conn.execute("SELECT to_regclass('replan_requests')").fetchone() or (None,)
            )[0] is not None
        return self._conn

    def execute(self, sql: str, params: tuple[Any, ...]) -> psycopg.Cursor[Any]:
        self.statements += 1
        return self.conn().execute(sql, params)

    # --- shared ------------------------------------------------------------------------

    def authenticate(self, role: str) -> dict[str, Any]:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(401, "Authentication is required: send a valid access token.")
        try:
            payload = self.serializer.loads(token.strip(), max_age=ACCESS_TOKEN_TTL)
        except SignatureExpired:
            raise Refused(401, "The access token has expired.") from None
        except BadSignature:
            raise Refused(401, "The access token is not valid.") from None
        sid = payload.get("sid") if isinstance(payload, dict) else None
        if not isinstance(sid, str):
            raise Refused(401, "This login has ended; sign in again.")
        row = self.execute(AUTH_SQL, (sid,)).fetchone()
        if row is None:
            raise Refused(401, "This login has ended; sign in again.")
        session_id, created_at, last_used_at, expires_at, user_id, user_role, tz, couple = row
        now = datetime.now(UTC)
        if _aware(expires_at) <= now:
            raise Refused(401, "This login has expired; sign in again.")
        if user_role != role:
            raise Refused(403, f"This is for {role}s only.")
        if now - _aware(last_used_at) > TOUCH_EVERY:
            expiry = min(now + LOGIN_IDLE, _aware(created_at) + LOGIN_MAX_AGE)
            self.execute(TOUCH_SQL, (now, expiry, session_id))
        return {"id": user_id, "timezone": tz, "couple_id": couple, "now": now}

    def program(self, assignment_id: str, version_id: str) -> Program:
        program = self.programs.get(version_id)
        if program is None:
            data = self.execute(
                "SELECT program FROM assignments WHERE id = %s", (assignment_id,)
            ).fetchone()[0]  # type: ignore[index]
            program = self.programs[version_id] = Program.from_dict(data)
        return program

    def exercises(self, assignment_id: str) -> dict[str, dict[str, Any]]:
        data = self.exercise_data.get(assignment_id)
        if data is None:
            data = self.execute(
                "SELECT exercises FROM assignments WHERE id = %s", (assignment_id,)
            ).fetchone()[0]  # type: ignore[index]
            self.exercise_data[assignment_id] = data
        return data

    def exercise(self, assignment_id: str, slug: str) -> Exercise | None:
        key = (assignment_id, slug)
        parsed = self.parsed_exercises.get(key)
        if parsed is None:
            data = self.exercises(assignment_id).get(slug)
            if data is None:
                return None
            parsed = self.parsed_exercises[key] = Exercise.from_dict(data)
        return parsed

    # --- GET /api/v1/me/homework ---------------------------------------------------------

    def homework(self) -> dict[str, Any]:
        user = self.authenticate("client")
        now = user["now"]
        tz = ZoneInfo(user["timezone"])
        week = week_of(now, tz)
        out = self._exercises(user, tz, week, now)
        out["measures_due"] = self._measures_due(user, tz, now)
        return out

    def _exercises(self, user: dict[str, Any], tz: ZoneInfo, week: Any, now: datetime) -> Any:
        empty: dict[str, Any] = {
            "assignment_id": None,
            "status": None,
            "program": None,
            "stage": None,
            "week": {"start": week.start, "end": week.end},
            "today": local_date(now, tz),
            "items": [],
            "message": None,
        }
        if user["couple_id"] is None:
            return empty
        rows = self.execute(ASSIGNMENT_SQL, (user["couple_id"],)).fetchall()
        running = [r for r in rows if r[3] != "completed"]
        row = running[0] if running else (rows[0] if rows else None)
        if row is None:
            return empty
        assignment_id, version_id, stage_index, status, on_hold, start_date, overrides = row
        program = self.program(assignment_id, version_id)
        base = {
            **empty,
            "assignment_id": assignment_id,
            "program": {"slug": program.slug, "title": program.title, "version": program.version},
        }
        if status == "completed":
            return {**base, "status": "completed", "message": "You have completed this program."}
        if base["today"] < start_date:
            return {
                **base,
                "status": "scheduled",
                "message": f"Your program starts on {start_date.isoformat()}.",
            }
        stage = program.stage(stage_index)
        held = not (status == "active" and not on_hold)
        start, end = week_window_utc(week, tz)
        records = [
            CheckinRecord(exercise=e, occurred_at=_aware(at), declined=bool(declined))
            for e, at, declined in self.execute(
                WEEK_SQL, (user["id"], assignment_id, start, end)
            ).fetchall()
        ]
        result = homework(
            program, stage_index, checkins=records, tz=tz, now=now, overrides=overrides
        )
        exercises = self.exercises(assignment_id)
        items = []
        for item in result.items:
            exercise = exercises[item.exercise]
            items.append(
                {
                    "exercise": item.exercise,
                    "version": exercise["version"],
                    "title": exercise["title"],
                    "kind": exercise["kind"],
                    "joint": exercise["joint"],
                    "duration_minutes": exercise["duration_minutes"],
                    "per_week": item.per_week,
                    "done_this_week": item.done_this_week,
                    "declined_this_week": item.declined_this_week,
                    "remaining": item.remaining,
                    "due_today": item.due_today and not held,
                    "due_today_count": 0 if held else item.due_today_count,
                    "paused": held,
                }
            )
        includes, off_limits = stage_limits(stage.to_dict(), exercises)
        return {
            **base,
            "status": "paused" if held else "active",
            "stage": {
                "index": stage.index,
                "title": stage.title,
                "guidance": stage.guidance,
                "includes": includes,
                "off_limits": off_limits,
            },
            "week": {"start": result.week.start, "end": result.week.end},
            "today": result.today,
            "items": items,
            "message": "Paused by your therapist." if held else None,
        }

    def _measures_due(self, user: dict[str, Any], tz: ZoneInfo, now: datetime) -> Any:
        if user["couple_id"] is None:
            return []
        due = []
        rows = self.execute(MEASURES_SQL, (user["id"], user["couple_id"])).fetchall()
        for slug, started_at, every_weeks, last in rows:
            measure = self.measures.get(slug)
            if measure is None:
                continue
            since = due_since(
                started_at=_aware(started_at),
                every_weeks=every_weeks,
                tz=tz,
                now=now,
                answered=[_aware(last)] if last else [],
            )
            if since is not None:
                due.append({"measure": measure.slug, "title": measure.title, "due_since": since})
        return due

    # --- POST /api/v1/checkins -------------------------------------------------------------

    def checkin(self) -> tuple[dict[str, Any], int]:
        conn = self.conn()
        with conn.transaction():
            author = self.authenticate("client")
            body = self._body()
            return self._record(author, body)

    def _body(self) -> dict[str, Any]:
        try:
            body = parse_json(request.get_data())
        except BadJSON as exc:
            raise Refused(400, str(exc)) from None
        if not isinstance(body, dict):
            raise Refused(422, "Invalid input.", errors={"_schema": ["Invalid input type."]})
        errors: dict[str, list[str]] = {}
        for key in body.keys() - BODY_FIELDS:
            errors[key] = ["Unknown field."]
        for key in ("id", "assignment_id", "exercise", "occurred_at"):
            if key not in body:
                errors[key] = ["Missing data for required field."]
        cid = body.get("id")
        if "id" in body and not (isinstance(cid, str) and _is_uuid(cid)):
            errors["id"] = ["Must be a UUID."]
        for key in ("assignment_id", "exercise"):
            value = body.get(key)
            if key in body and not (isinstance(value, str) and len(value) <= 64):
                errors[key] = ["Not a valid string."]
        occurred = body.get("occurred_at")
        if "occurred_at" in body:
            try:
                parsed = datetime.fromisoformat(occurred)  # type: ignore[arg-type]
                if parsed.tzinfo is None:
                    raise ValueError
                body["occurred_at"] = parsed.astimezone(UTC)
            except (TypeError, ValueError):
                errors["occurred_at"] = ["Not a valid datetime with an offset."]
        answers = body.setdefault("answers", {})
        if not isinstance(answers, dict) or any(len(k) > 64 for k in answers):
            errors["answers"] = ["Not a valid mapping type."]
        reflection = body.get("reflection")
        if reflection is not None and not (
            isinstance(reflection, str) and len(reflection) <= 10_000
        ):
            errors["reflection"] = ["Not a valid string."]
        visibility = body.setdefault("visibility", "therapist")
        if visibility not in VISIBILITIES:
            errors["visibility"] = ["Must be one of: private, therapist, couple."]
        flags = body.setdefault("flags", {})
        if not isinstance(flags, dict) or any(
            k not in FLAGS or not isinstance(v, bool) for k, v in flags.items()
        ):
            errors["flags"] = ["Unknown flag or not a boolean."]
        if errors:
            raise Refused(422, "The request is not valid.", errors=errors)
        return body

    def _record(self, author: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], int]:
        # As Tandem: no lookup first; a refusal looks the id up (a retry is answered), and
        # the INSERT finds a stored twin by itself.
        try:
            return self._record_new(author, body)
        except Refused as refused:
            if refused.status not in (409, 422):
                raise
            existing = self.execute(CHECKIN_SQL, (body["id"],)).fetchone()
            if existing is None:
                raise
            return self._replay(existing, author, body), 200

    def _record_new(
        self, author: dict[str, Any], body: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        assignment_id = body["assignment_id"]
        row = (
            self.execute(WRITABLE_SQL, (assignment_id,)).fetchone()
            if _is_uuid(assignment_id)
            else None
        )
        if row is None or row[0] != author["couple_id"]:
            raise Refused(
                422,
                "Unknown assignment.",
                errors={"assignment_id": ["No such assignment of yours."]},
            )
        couple_id, status, stage_index, start_date, version_id = row
        if status == "completed":
            raise Refused(409, "This program is completed; it takes no more check-ins.")
        stage = self.program(assignment_id, version_id).stage(stage_index)
        slug = body["exercise"]
        if slug not in stage.exercise_slugs:
            raise Refused(422, "This exercise is not part of the current stage.")
        exercise = self.exercise(assignment_id, slug)
        assert exercise is not None
        occurred_at: datetime = body["occurred_at"]
        now = author["now"]
        errors: dict[str, list[str]] = {}
        if occurred_at > now + FUTURE_TOLERANCE:
            errors["occurred_at"] = ["Must not be in the future."]
        elif local_date(occurred_at, ZoneInfo(author["timezone"])) < start_date:
            errors["occurred_at"] = ["Must not be before the assignment started."]
        answers = body["answers"]
        for key, messages in validate_answers(exercise.form, answers).items():
            errors[f"answers.{key}"] = messages
        if errors:
            raise Refused(422, "The check-in is not valid.", errors=errors)
        sent = {k for k, v in body["flags"].items() if v}
        flags = sorted(sent | set(flags_from_answers(exercise.form, answers)))
        if flags:
            raise Refused(501, "Flagged check-ins are not part of the floor.")
        text_keys = {q.key for q in exercise.form if q.type == "text"}
        plain = {k: v for k, v in answers.items() if k not in text_keys}
        text = {k: v for k, v in answers.items() if k in text_keys}
        reflection = body.get("reflection")
        secret = {"answers": text, "reflection": reflection} if (text or reflection) else None
        encrypted = self.cipher.encrypt(json.dumps(secret)) if secret else None
        fingerprint = self.cipher.fingerprint(
            fingerprint_text(
                checkin_id=body["id"],
                assignment_id=assignment_id,
                exercise=slug,
                occurred_at=occurred_at,
                answers=answers,
                reflection=reflection,
                visibility=body["visibility"],
                flags=flags,
            )
        )
        values = (
            body["id"],
            assignment_id,
            couple_id,
            author["id"],
            slug,
            stage_index,
            occurred_at,
            now,
            json.dumps(plain),
            encrypted,
            body["visibility"],
            json.dumps(flags),
            fingerprint,
        )
        if self.execute(INSERT_SQL, values).rowcount != 1:  # a twin won the race
            existing = self.execute(CHECKIN_SQL, (body["id"],)).fetchone()
            return self._replay(existing, author, body), 200
        if self.replans:
            self.execute(REPLAN_SQL, (author["id"], now))
        view = {
            "id": body["id"],
            "assignment_id": assignment_id,
            "exercise": slug,
            "author_id": author["id"],
            "occurred_at": occurred_at,
            "recorded_at": now,
            "visibility": body["visibility"],
            "answers": answers,
            "reflection": reflection,
            "flags": {flag: False for flag in FLAGS},
        }
        return view, 201

    def _replay(self, row: Any, author: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        (cid, assignment_id, _couple, author_id, slug, _stage, occurred_at, recorded_at,
         plain, encrypted, visibility, flags, stored_hash) = row  # fmt: skip
        raised = {k for k, v in body["flags"].items() if v}
        exercise = self.exercise(assignment_id, body["exercise"])
        if exercise is not None:
            raised |= flags_from_answers(exercise.form, body["answers"])
        same = author_id == author["id"] and self.cipher.fingerprint_matches(
            fingerprint_text(
                checkin_id=body["id"],
                assignment_id=body["assignment_id"],
                exercise=body["exercise"],
                occurred_at=body["occurred_at"],
                answers=body["answers"],
                reflection=body.get("reflection"),
                visibility=body["visibility"],
                flags=raised,
            ),
            stored_hash,
        )
        if not same:
            raise Refused(409, "A different check-in with this id already exists.")
        answers = dict(plain)
        reflection = None
        if encrypted:
            secret = json.loads(self.cipher.decrypt(encrypted))
            answers.update(secret.get("answers") or {})
            reflection = secret.get("reflection")
        view = {
            "id": cid,
            "assignment_id": assignment_id,
            "exercise": slug,
            "author_id": author_id,
            "occurred_at": _aware(occurred_at),
            "recorded_at": _aware(recorded_at),
            "visibility": visibility,
            "answers": answers,
            "reflection": reflection,
            "flags": {flag: flag in flags for flag in FLAGS},
        }
        if flags:
            view["safety"] = CRISIS_GUIDANCE
        return view


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def create_floor(
    *, database_url: str, secret_key: str, data_keys: tuple[str, ...], catalog_path: Path
) -> Flask:
    """The floor app over `database_url` (a SQLAlchemy URL of PostgreSQL is accepted)."""
    conninfo = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    floor = Floor(
        conninfo=conninfo, secret_key=secret_key, data_keys=data_keys, catalog_path=catalog_path
    )
    app = Flask(__name__)
    app.extensions["floor"] = floor

    @app.get("/api/v1/me/homework")
    def get_homework() -> Response:
        try:
            return _json(floor.homework())
        except Refused as refused:
            return _json(refused.body, refused.status)

    @app.post("/api/v1/checkins")
    def post_checkin() -> Response:
        try:
            view, status = floor.checkin()
        except Refused as refused:
            return _json(refused.body, refused.status)
        return _json(view, status)

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    return app


def app_from_environ() -> Flask:
    """The floor under the same environment as Tandem (`TANDEM_DATABASE_URL`,
    `TANDEM_INSTANCE_PATH`: the secret key and data keys of the instance folder)."""
    instance = Path(os.environ.get("TANDEM_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    settings = load_settings(instance, os.environ)
    return create_floor(
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        data_keys=settings.data_keys,
        catalog_path=settings.catalog_path,
    )
