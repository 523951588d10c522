"""Reminders: planning (pure), the outbox, dispatch, notifiers and the worker.

`notifications.planning` and `notifications.texts` are pure Python: no Flask, no
database, no clock. Nothing is imported here so that importing one submodule never
drags in the others (the worker and the web app need different halves).
"""
