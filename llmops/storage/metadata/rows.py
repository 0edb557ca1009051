"""The metadata store's tables as SQLAlchemy ORM rows (the Alembic migrations own the schema),
and the copying between rows and the frozen records of `records`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from llmops.storage.metadata.records import as_utc

R = TypeVar("R")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (no time zones) as well."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value, "a stored timestamp")
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class PromptVersionRow(Base):
    __tablename__ = "prompt_versions"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    template: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    author: Mapped[str | None] = mapped_column(String(256))
    diff: Mapped[str | None] = mapped_column(Text)


class PromptLabelRow(Base):
    __tablename__ = "prompt_labels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["name", "version"], ["prompt_versions.name", "prompt_versions.version"]
        ),
    )

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))


class LabelHistoryRow(Base):
    __tablename__ = "label_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    label: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[str | None] = mapped_column(String(64))
    to_version: Mapped[str | None] = mapped_column(String(64))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)


class ContextVersionRow(Base):
    __tablename__ = "context_versions"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContextLabelRow(Base):
    __tablename__ = "context_labels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["name", "version"], ["context_versions.name", "context_versions.version"]
        ),
    )

    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))


class ContextLabelHistoryRow(Base):
    __tablename__ = "context_label_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    label: Mapped[str] = mapped_column(String(64))
    from_ref: Mapped[str | None] = mapped_column(String(200))
    to_ref: Mapped[str] = mapped_column(String(200))
    moved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)


class QueryLogRow(Base):
    __tablename__ = "query_log"

    query_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    prompt_name: Mapped[str] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(64))
    table_name: Mapped[str] = mapped_column(String(256))
    table_version: Mapped[int] = mapped_column(Integer)
    embedding_model: Mapped[str] = mapped_column(String(256))
    chat_model: Mapped[str] = mapped_column(String(256))
    chunks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Double)
    latency_ms: Mapped[float] = mapped_column(Double)
    trimmed: Mapped[bool] = mapped_column(Boolean)
    guardrails: Mapped[list[Any]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    status: Mapped[str] = mapped_column(String(32))
    api_key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    context: Mapped[str | None] = mapped_column(String(200))
    truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FeedbackRow(Base):
    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("rating IN ('up', 'down')", name="rating"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    query_id: Mapped[str] = mapped_column(ForeignKey("query_log.query_id"), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        Index("ix_evaluations_prompt", "prompt_name", "prompt_version", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    prompt_name: Mapped[str] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(64))
    evalset: Mapped[str] = mapped_column(Text)
    evalset_digest: Mapped[str] = mapped_column(String(64))
    table_version: Mapped[int] = mapped_column(Integer)
    chat_model: Mapped[str] = mapped_column(String(256))
    judge: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON)
    gate_passed: Mapped[bool | None] = mapped_column(Boolean)
    gate_baseline: Mapped[str | None] = mapped_column(String(64))
    gate_details: Mapped[list] = mapped_column(JSON)
    cost_usd: Mapped[float] = mapped_column(Double)
    scores_path: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    context: Mapped[str | None] = mapped_column(String(200))


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GuardrailEventRow(Base):
    __tablename__ = "guardrail_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    stage: Mapped[str] = mapped_column(String(16))
    query_id: Mapped[str | None] = mapped_column(String(36), index=True)
    chunk_id: Mapped[str | None] = mapped_column(String(64))
    check: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    triggered: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Double)
    spans: Mapped[list] = mapped_column(JSON)


class UsageRow(Base):
    __tablename__ = "usage_ledger"
    __table_args__ = (CheckConstraint("status IN ('charged', 'refused')", name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    model: Mapped[str] = mapped_column(String(256))
    purpose: Mapped[str] = mapped_column(String(32))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    query_id: Mapped[str | None] = mapped_column(String(36))
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Double)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    api_key_id: Mapped[str | None] = mapped_column(String(32), index=True)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(32))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    daily_budget_usd: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SpendReservationRow(Base):
    __tablename__ = "spend_reservations"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012  (ids are never reused)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    api_key_id: Mapped[str | None] = mapped_column(String(32), index=True)
    model: Mapped[str] = mapped_column(String(256))
    purpose: Mapped[str] = mapped_column(String(32))
    amount_usd: Mapped[float] = mapped_column(Double)


class RateLimitHitRow(Base):
    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_key_at", "api_key_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    api_key_id: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


def fields(record: Any) -> dict[str, Any]:
    """A record's fields by name."""
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def to_record(cls: type[R], row: Base) -> R:
    """The record of type `cls` with `row`'s values."""
    return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def new_row(row_type: type[Base], record: Any) -> Base:
    """A row of `row_type` with `record`'s values but its `id`, which the database assigns."""
    values = fields(record)
    del values["id"]
    return row_type(**values)


def insert(session: Session, row_type: type[Base], record: R) -> R:
    """Insert `record` (whose `id` the database assigns); returns it with that id."""
    row = new_row(row_type, record)
    session.add(row)
    session.flush()
    return to_record(type(record), row)
