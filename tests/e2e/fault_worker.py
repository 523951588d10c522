"""`tandem worker`'s dispatch job for the fault tests: the real app, `server.worker.run`
(APScheduler, back-off, one context per run), the real SDK, the loopback fake FCM.
Usage: python fault_worker.py FCM_URL DISPATCH_EVERY_SECONDS. Runs until SIGTERM."""

from __future__ import annotations

import logging
import sys
import uuid

import firebase_admin
from google.auth.credentials import AnonymousCredentials

from notifications.senders import FCMSender, fcm_endpoint_override
from server import create_app
from server.worker import run


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    firebase = firebase_admin.initialize_app(
        AnonymousCredentials(), {"projectId": "tandem-test"}, name=f"w-{uuid.uuid4()}"
    )
    fcm_endpoint_override(firebase, sys.argv[1])
    app = create_app()
    app.extensions["tandem.sender"] = FCMSender(firebase)
    return run(app, every={"dispatch": float(sys.argv[2])})


if __name__ == "__main__":
    sys.exit(main())
