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
from server.models.reminders import (
    PENDING,
    REMINDER_STATUSES,
    SENDING,
    Device,
    Reminder,
    ReminderPreferences,
)
from server.models.user import CLIENT, THERAPIST, LoginSession, RefreshToken, User

__all__ = [
    "ACTIVE",
    "CATALOG_SCOPE",
    "CLIENT",
    "COMPLETED",
    "FLAGS",
    "PAUSED",
    "PENDING",
    "REMINDER_STATUSES",
    "SENDING",
    "THERAPIST",
    "VISIBILITIES",
    "Alert",
    "Assignment",
    "AssignmentEvent",
    "AuditEvent",
    "CheckIn",
    "Couple",
    "Device",
    "ExerciseVersion",
    "Invite",
    "LoginSession",
    "ProgramVersion",
    "RefreshToken",
    "Reminder",
    "ReminderPreferences",
    "User",
]
