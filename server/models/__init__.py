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
from server.models.mail import (
    EMAIL_STATUSES,
    PASSWORD_RESET,
    RECOVERY,
    VERIFY_EMAIL,
    AccountToken,
    OutboundEmail,
)
from server.models.measures import MeasureResponse, MeasureSchedule
from server.models.reminders import (
    PENDING,
    REMINDER_STATUSES,
    SENDING,
    Device,
    Reminder,
    ReminderPlan,
    ReminderPreferences,
    ReplanRequest,
)
from server.models.user import CLIENT, THERAPIST, LoginSession, RefreshToken, User
from server.models.worker import WorkerHeartbeat

__all__ = [
    "ACTIVE",
    "CATALOG_SCOPE",
    "CLIENT",
    "COMPLETED",
    "EMAIL_STATUSES",
    "FLAGS",
    "PASSWORD_RESET",
    "PAUSED",
    "PENDING",
    "RECOVERY",
    "REMINDER_STATUSES",
    "SENDING",
    "THERAPIST",
    "VERIFY_EMAIL",
    "VISIBILITIES",
    "AccountToken",
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
    "MeasureResponse",
    "MeasureSchedule",
    "OutboundEmail",
    "ProgramVersion",
    "RefreshToken",
    "Reminder",
    "ReminderPlan",
    "ReminderPreferences",
    "ReplanRequest",
    "User",
    "WorkerHeartbeat",
]
