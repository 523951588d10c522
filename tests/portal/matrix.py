"""Permission matrix entries for the portal's routes (HTML, session-based).

Keys are "METHOD rule" exactly as in the app's URL map; `tests/api/test_permissions.py`
counts a route as covered when it is here, and the portal's own tests check each entry
(`tests/portal/test_portal_permissions.py`).

Partners ("client", "other_partner") cannot get a portal session: the test signs them in
first, sees that refused, and then expects what an anonymous caller gets, the redirect
to the sign-in page (302). Forms answer 303 (post/redirect/get).
"""

from __future__ import annotations

ROLES = ("anonymous", "client", "other_partner", "therapist", "other_therapist")


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def signed_in(own: int, others: int = 404) -> dict[str, int]:
    """A page behind sign-in: everyone without a therapist's session is sent to sign in;
    the other therapist gets 404 for the main therapist's objects."""
    return {
        "anonymous": 302,
        "client": 302,
        "other_partner": 302,
        "therapist": own,
        "other_therapist": others,
    }


PORTAL_MATRIX: dict[str, dict[str, int]] = {
    "GET /portal/static/<path:filename>": everyone(200),
    # A signed-in therapist is sent on to their couples.
    "GET /portal/login": {**everyone(200), "therapist": 302, "other_therapist": 302},
    # Each caller posts their own credentials (anonymous: a wrong password).
    "POST /portal/login": {
        "anonymous": 401,
        "client": 403,
        "other_partner": 403,
        "therapist": 303,
        "other_therapist": 303,
    },
    "POST /portal/logout": signed_in(303, 303),
    "GET /portal/": signed_in(200, 200),
    "POST /portal/couples": signed_in(303, 303),
    "GET /portal/couples/<couple_id>": signed_in(200),
    "POST /portal/couples/<couple_id>/assignments": signed_in(303),
    "POST /portal/assignments/<assignment_id>/advance": signed_in(303),
    "POST /portal/assignments/<assignment_id>/pause": signed_in(303),
    "POST /portal/assignments/<assignment_id>/resume": signed_in(303),
    "POST /portal/assignments/<assignment_id>/complete": signed_in(303),
    "POST /portal/assignments/<assignment_id>/targets": signed_in(303),
    # Moving on is confirmed on its own page first; moving back, the note (issue 12).
    "GET /portal/assignments/<assignment_id>/advance": signed_in(200),
    "POST /portal/assignments/<assignment_id>/back": signed_in(303),
    "POST /portal/assignments/<assignment_id>/note": signed_in(303),
    # A new invite code, shown once; the other therapist gets 404.
    "POST /portal/couples/<couple_id>/invites/<int:slot>/reissue": signed_in(200),
    "GET /portal/alerts": signed_in(200, 200),
    "GET /portal/sign-ins": signed_in(200, 200),
    # The main therapist's API login: the other therapist gets 404.
    "POST /portal/sign-ins/<session_id>/end": signed_in(303),
    "POST /portal/sign-ins/end-others": signed_in(303, 303),
    # Each therapist changes their own password.
    "POST /portal/password": signed_in(303, 303),
    "POST /portal/alerts/<alert_id>/ack": signed_in(303),
    # The pages the links in emails open: anyone, signed in or not (server/portal/accounts.py).
    "GET /portal/verify-email": everyone(200),
    "POST /portal/verify-email": everyone(303),  # a fresh token each: on to sign in
    "GET /portal/forgot-password": everyone(200),
    "POST /portal/forgot-password": everyone(200),  # the same answer for every address
    "GET /portal/reset-password": everyone(200),
    "POST /portal/reset-password": everyone(303),  # a fresh token each: on to sign in
    # A partner's recovery code, shown once; the other therapist gets 404.
    "POST /portal/couples/<couple_id>/partners/<partner_id>/recovery": signed_in(200),
}


# The partners' minimal account pages at /account (server/account_pages): no sign-in, the
# same for every caller; checked by tests/portal/test_portal_accounts.py.
ACCOUNT_MATRIX: dict[str, int] = {
    "GET /account/static/<path:filename>": 200,
    "GET /account/forgot-password": 200,
    "POST /account/forgot-password": 200,
    "GET /account/reset-password": 200,
    "POST /account/reset-password": 200,
}
