"""`tandem seed`: the shipped content and, on request, demo accounts. Idempotent."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import select

from server.extensions import db
from server.models import User

log = logging.getLogger(__name__)

DEMO_THERAPIST = ("therapist@demo.tandem.test", "demo-therapist-1", "Dr. Robin Demo")
DEMO_PARTNERS = (
    ("alex@demo.tandem.test", "demo-partner-1", "Alex", "Europe/London"),
    ("sam@demo.tandem.test", "demo-partner-2", "Sam", "Europe/London"),
)
DEMO_COUPLE_LABEL = "Alex & Sam (demo)"


def seed_all(*, demo: bool = False) -> Iterator[str]:
    """Seed everything there is to seed; yields lines to show the operator."""
    from server.services.catalog import loaded_catalog, seed_catalog

    yield from seed_catalog(loaded_catalog())
    if demo:
        yield from seed_demo()


def seed_demo() -> Iterator[str]:
    """A demo therapist with one couple whose partners have both joined."""
    from server.services.accounts import sign_up_therapist
    from server.services.couples import accept_invite, create_couple, invite_code

    therapist = db.session.scalars(
        select(User).where(User.email == DEMO_THERAPIST[0])
    ).one_or_none()
    if therapist is None:
        email, password, name = DEMO_THERAPIST
        therapist = sign_up_therapist(email=email, password=password, name=name)
        couple = create_couple(therapist=therapist, label=DEMO_COUPLE_LABEL)
        for invite, (p_email, p_password, p_name, tz) in zip(
            couple.invites, DEMO_PARTNERS, strict=True
        ):
            accept_invite(
                code=invite_code(invite) or "",
                email=p_email,
                password=p_password,
                name=p_name,
                timezone=tz,
            )
        db.session.commit()
        log.info("created demo accounts")
    yield "Demo logins (for trying Tandem only; do not use on a real server):"
    yield f"  therapist  {DEMO_THERAPIST[0]}  password {DEMO_THERAPIST[1]}"
    for p_email, p_password, p_name, _ in DEMO_PARTNERS:
        yield f"  partner    {p_email}  password {p_password}  ({p_name})"
