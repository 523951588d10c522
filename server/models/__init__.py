"""All models, imported here so Alembic and the app see the whole schema."""

from server.models.audit import AuditEvent
from server.models.catalog import CATALOG_SCOPE, ExerciseVersion, ProgramVersion
from server.models.couple import Couple, Invite
from server.models.homework import (
    ACTIVE,
    COMPLETED,
    FLAGS,
    PAUSED,
    VISIBILITIES,
    Alert,
    Assignment,
    AssignmentEvent,
    CheckIn,
)
from server.models.user import CLIENT, THERAPIST, LoginSession, RefreshToken, User

__all__ = [
    "ACTIVE",
    "CATALOG_SCOPE",
    "CLIENT",
    "COMPLETED",
    "FLAGS",
    "PAUSED",
    "THERAPIST",
    "VISIBILITIES",
    "Alert",
    "Assignment",
    "AssignmentEvent",
    "AuditEvent",
    "CheckIn",
    "Couple",
    "ExerciseVersion",
    "Invite",
    "LoginSession",
    "ProgramVersion",
    "RefreshToken",
    "User",
]
