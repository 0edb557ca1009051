"""The API keys of the HTTP service (only the SHA-256 hash of each secret is stored)."""

from __future__ import annotations

from sqlalchemy import select

from llmops.storage.metadata.engine import Sessions
from llmops.storage.metadata.records import ApiKey, UnknownApiKeyError, utcnow
from llmops.storage.metadata.rows import ApiKeyRow, fields, to_record


class ApiKeys:
    def __init__(self, sessions: Sessions) -> None:
        self._session = sessions

    def add(self, key: ApiKey) -> ApiKey:
        with self._session() as session:
            session.add(ApiKeyRow(**fields(key)))
        return key

    def find(self) -> list[ApiKey]:
        """Every API key, revoked ones included, oldest first."""
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        with self._session(write=False) as session:
            return [to_record(ApiKey, row) for row in session.scalars(query)]

    def by_hash(self, digest: str) -> ApiKey | None:
        with self._session(write=False) as session:
            row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.hash == digest)).first()
            return to_record(ApiKey, row) if row else None

    def any_active(self) -> bool:
        """Whether any key is unrevoked: then the HTTP service requires one."""
        query = select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None)).limit(1)
        with self._session(write=False) as session:
            return session.scalar(query) is not None

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke key `key_id` (revoking twice keeps the first time); UnknownApiKeyError if none."""
        with self._session() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownApiKeyError(f"no API key has the id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return to_record(ApiKey, row)
