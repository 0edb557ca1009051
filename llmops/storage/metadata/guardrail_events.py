"""Guardrail verdicts on questions, answers and ingested chunks (types and offsets, no text)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select

from llmops.storage.metadata.engine import Sessions
from llmops.storage.metadata.records import GuardrailEvent, as_utc
from llmops.storage.metadata.rows import GuardrailEventRow, new_row, to_record


class GuardrailEvents:
    def __init__(self, sessions: Sessions) -> None:
        self._session = sessions

    def add(self, events: Collection[GuardrailEvent]) -> None:
        """Record verdicts (all in one transaction)."""
        with self._session() as session:
            for event in events:
                session.add(new_row(GuardrailEventRow, event))

    def find(self, since: datetime | None = None, stage: str | None = None) -> list[GuardrailEvent]:
        """Recorded verdicts (at or after `since`, of one `stage`, where given), oldest first."""
        query = select(GuardrailEventRow).order_by(GuardrailEventRow.id)
        if since is not None:
            query = query.where(GuardrailEventRow.created_at >= as_utc(since, "since"))
        if stage is not None:
            query = query.where(GuardrailEventRow.stage == stage)
        with self._session(write=False) as session:
            return [to_record(GuardrailEvent, row) for row in session.scalars(query)]
