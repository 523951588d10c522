"""What the worker process tells the web processes: each job's last successful run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from server.extensions import db


class WorkerHeartbeat(db.Model):
    """One row per worker job (plan, dispatch, inactivity, mail), written by `tandem
    worker` after each run that succeeded; `GET /metrics` reports its age."""

    __tablename__ = "worker_heartbeats"

    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_success_at: Mapped[datetime]
