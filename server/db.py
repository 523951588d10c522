"""Database foundations: the declarative base, naming convention and UTC timestamps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, String, TypeDecorator, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, registry

# Constraint names must be deterministic so Alembic can alter them (batch mode on SQLite
# recreates tables and needs every constraint named).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current instant, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A new opaque identifier (UUID4 as a string)."""
    return str(uuid.uuid4())


def is_id(value: str) -> bool:
    """Whether `value` can be one of our ids (checked before it reaches a query)."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def add_unique(session: Session, obj: object) -> bool:
    """Insert `obj` inside a savepoint; False if a unique constraint refused it.

    The savepoint must be open before the object is added: `begin_nested()` flushes
    what is pending first, and a refused INSERT outside it would spoil the whole
    transaction. This is how concurrent duplicates (same email, same check-in id) are
    told apart from real errors.
    """
    try:
        with session.begin_nested():
            session.add(obj)
    except IntegrityError:
        return False
    return True


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored in UTC and always comes back timezone-aware.

    SQLite has no time zones, so a naive value read back is UTC by construction; naive
    values are refused on the way in because their meaning would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        value = value.astimezone(UTC)
        if getattr(dialect, "name", "") == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Alembic autogenerate: write our UTC type as plain `sa.DateTime(timezone=True)` so
    migrations never import application code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


class Base(DeclarativeBase):
    """Base of every model: named constraints, typed columns."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


class IdMixin:
    """A string UUID primary key."""

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
    """Turn on foreign keys and WAL for SQLite; other databases are left alone."""
    module = type(dbapi_connection).__module__
    if module.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()
