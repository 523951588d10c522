"""Push devices: one row per push token and login, registered by the apps."""

from __future__ import annotations

from sqlalchemy import delete, select

from server.auth import hold_open_login
from server.db import is_id, utcnow
from server.errors import Conflict, NotFound
from server.extensions import db
from server.models import Device, LoginSession, User


def register_device(
    *, user: User, session_id: str | None, token: str, platform: str
) -> tuple[Device, bool]:
    """Remember a push token for this login; the same token again just refreshes it.

    A token registered by another account moves to this one only once the login that
    registered it has ended (a phone changing hands: signing out there forgets the
    token, and so does a login that expired). While that login is open the token stays
    where it is (409 `device_taken`): knowing someone's push token must not be a way to
    take their pushes, e.g. a therapist's alerts.
    """
    if session_id is not None:
        # Ending this login at the same moment cannot leave the device behind.
        hold_open_login(session_id)
    device = db.session.scalars(select(Device).where(Device.token == token)).one_or_none()
    if device is not None:
        if device.user_id != user.id and _login_still_open(device):
            raise Conflict(
                "This device receives another account's notifications. Sign that account "
                "out on this device first.",
                code="device_taken",
            )
        created = device.user_id != user.id
        device.user_id, device.session_id = user.id, session_id
        device.platform, device.last_seen_at = platform, utcnow()
        db.session.flush()
        return device, created
    device = Device(user_id=user.id, session_id=session_id, token=token, platform=platform)
    db.session.add(device)
    db.session.flush()
    return device, True


def _login_still_open(device: Device) -> bool:
    """Whether the login that registered `device` still works (one not recorded, as the
    demo's, counts as open: nothing shows it ended)."""
    if device.session_id is None:
        return True
    login = db.session.get(LoginSession, device.session_id)
    return login is not None and login.revoked_at is None and login.expires_at > utcnow()


def delete_device(*, user: User, device_id: str) -> None:
    if not is_id(device_id):
        raise NotFound("No such device.")
    deleted = db.session.execute(
        delete(Device).where(Device.id == device_id, Device.user_id == user.id)
    )
    if deleted.rowcount != 1:
        raise NotFound("No such device.")


def list_devices(*, user: User) -> list[Device]:
    return list(db.session.scalars(select(Device).where(Device.user_id == user.id)))
