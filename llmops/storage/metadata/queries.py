"""The query log (what the assistant served for each question, reproducibly) and the feedback
people give on logged answers."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select

from llmops.storage.metadata.engine import Sessions
from llmops.storage.metadata.records import (
    RATINGS,
    Feedback,
    QueryRecord,
    RetrievedChunk,
    UnknownQueryError,
    as_utc,
    attributed,
    utcnow,
)
from llmops.storage.metadata.rows import FeedbackRow, QueryLogRow, fields, to_record


class QueryLog:
    """Served questions; those logged without an API key are attributed to `api_key_id`."""

    def __init__(self, sessions: Sessions, api_key_id: str | None = None) -> None:
        self._session = sessions
        self._api_key_id = api_key_id

    def log(self, record: QueryRecord) -> None:
        record = attributed(record, self._api_key_id)
        values = fields(record)
        values["chunks"] = [fields(chunk) for chunk in record.chunks]
        values["guardrails"] = list(record.guardrails)
        with self._session() as session:
            session.add(QueryLogRow(**values))

    def get(self, query_id: str) -> QueryRecord | None:
        with self._session(write=False) as session:
            row = session.get(QueryLogRow, query_id)
            return _query_record(row) if row else None

    def find(
        self,
        since: datetime | None = None,
        ids: Collection[str] | None = None,
        until: datetime | None = None,
    ) -> list[QueryRecord]:
        """Logged queries (created at or after `since`, before `until`, and among `ids`, where
        given), oldest first."""
        query = select(QueryLogRow).order_by(QueryLogRow.created_at, QueryLogRow.query_id)
        if since is not None:
            query = query.where(QueryLogRow.created_at >= as_utc(since, "since"))
        if until is not None:
            query = query.where(QueryLogRow.created_at < as_utc(until, "until"))
        if ids is not None:
            query = query.where(QueryLogRow.query_id.in_(list(ids)))
        with self._session(write=False) as session:
            return [_query_record(row) for row in session.scalars(query)]


class FeedbackLog:
    """Thumbs-up and thumbs-down on logged answers."""

    def __init__(self, sessions: Sessions) -> None:
        self._session = sessions

    def add(self, query_id: str, rating: str, comment: str | None = None) -> Feedback:
        """Record a thumbs-up or thumbs-down on a logged answer."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
        with self._session() as session:
            if session.get(QueryLogRow, query_id) is None:
                raise UnknownQueryError(f"no logged query has the id {query_id!r}")
            row = FeedbackRow(
                query_id=query_id, rating=rating, comment=comment, created_at=utcnow()
            )
            session.add(row)
            session.flush()
            return to_record(Feedback, row)

    def find(self, since: datetime | None = None) -> list[Feedback]:
        """Feedback (given at or after `since`, if given), oldest first."""
        query = select(FeedbackRow).order_by(FeedbackRow.id)
        if since is not None:
            query = query.where(FeedbackRow.created_at >= as_utc(since, "since"))
        with self._session(write=False) as session:
            return [to_record(Feedback, row) for row in session.scalars(query)]


def _query_record(row: QueryLogRow) -> QueryRecord:
    values = {name: getattr(row, name) for name in QueryRecord.__dataclass_fields__}
    values["chunks"] = tuple(RetrievedChunk(**chunk) for chunk in row.chunks)
    values["guardrails"] = tuple(row.guardrails)
    return QueryRecord(**values)
