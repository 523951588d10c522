"""The yardstick for the load test: a bare Flask app with one JSON endpoint, served
exactly like Tandem (`gunicorn -w 2`). No database, no auth, no extensions: what is
left is the cost of gunicorn, Werkzeug and Flask's JSON response on this machine."""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello() -> dict[str, object]:
    """A small JSON object, like the smallest of Tandem's answers."""
    return {"status": "ok", "items": [{"exercise": "example", "done": 1, "target": 3}]}
