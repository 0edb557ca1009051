"""Stored evaluations: one prompt version scored on an eval set, with its gate's verdict."""

from __future__ import annotations

from sqlalchemy import select

from llmops.storage.metadata.engine import Sessions
from llmops.storage.metadata.records import EvaluationRecord
from llmops.storage.metadata.rows import EvaluationRow, insert, to_record


class Evaluations:
    def __init__(self, sessions: Sessions) -> None:
        self._session = sessions

    def add(self, record: EvaluationRecord) -> EvaluationRecord:
        """Store one evaluation; returns it with its id."""
        with self._session() as session:
            return insert(session, EvaluationRow, record)

    def find(
        self, prompt_name: str | None = None, prompt_version: str | None = None
    ) -> list[EvaluationRecord]:
        """Stored evaluations, newest first, optionally of one prompt or one version."""
        query = select(EvaluationRow).order_by(
            EvaluationRow.created_at.desc(), EvaluationRow.id.desc()
        )
        if prompt_name is not None:
            query = query.where(EvaluationRow.prompt_name == prompt_name)
        if prompt_version is not None:
            query = query.where(EvaluationRow.prompt_version == prompt_version)
        with self._session(write=False) as session:
            return [to_record(EvaluationRecord, row) for row in session.scalars(query)]
