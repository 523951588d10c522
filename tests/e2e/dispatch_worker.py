"""A dispatcher process for the multi-worker tests: the real app, the real SDK, the
loopback fake FCM. Usage: python dispatch_worker.py FCM_URL [NOW_OFFSET_SECONDS]

Dispatches until three claims in a row come back empty, then exits 0.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta

import firebase_admin
from google.auth.credentials import AnonymousCredentials

from notifications.senders import FCMSender, fcm_endpoint_override
from server import create_app
from server.db import utcnow
from server.worker import dispatch_pass


def main() -> int:
    url = sys.argv[1]
    offset = timedelta(seconds=float(sys.argv[2])) if len(sys.argv) > 2 else timedelta()
    firebase = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": "tandem-test"}, name=f"w-{uuid.uuid4()}"
    )
    fcm_endpoint_override(firebase, url)
    app = create_app()
    app.extensions["tandem.sender"] = FCMSender(firebase)
    empty = 0
    with app.app_context():
        while empty < 3:
            report = dispatch_pass(utcnow() + offset)
            empty = empty + 1 if report.claimed == 0 else 0
            print(f"report {report}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
