"""Alerts: things a person should look at (semantic drift, say), each recorded once by key."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from llmops.storage.metadata.engine import Sessions
from llmops.storage.metadata.records import Alert
from llmops.storage.metadata.rows import AlertRow, new_row, to_record


class Alerts:
    def __init__(self, sessions: Sessions) -> None:
        self._session = sessions

    def add(self, alert: Alert) -> bool:
        """Record an alert; False when one with the same `key` exists."""
        try:
            with self._session() as session:
                if session.scalar(select(AlertRow.id).where(AlertRow.key == alert.key)):
                    return False
                session.add(new_row(AlertRow, alert))
        except IntegrityError:
            return False  # recorded concurrently by another writer
        return True

    def find(self, kind: str | None = None) -> list[Alert]:
        """Recorded alerts, newest first, optionally of one kind."""
        query = select(AlertRow).order_by(AlertRow.created_at.desc(), AlertRow.id.desc())
        if kind is not None:
            query = query.where(AlertRow.kind == kind)
        with self._session(write=False) as session:
            return [to_record(Alert, row) for row in session.scalars(query)]
