"""The metadata store (SQL): prompt versions and labels, the query log, feedback, the usage ledger,
evaluations, alerts, guardrail events, the API keys of the HTTP service, and the state every
replica of the service must share: the spend held for LLM calls in flight and the request
windows of the per-key rate limits.

SQLite under `LLMOPS_HOME` by default, PostgreSQL the same way; the schema is owned by the Alembic
migrations in `resources/migrations`, applied automatically once per process before first use.
Their revision lives in `llmops_alembic_version`, not in Alembic's default `alembic_version`, so
the store can share one PostgreSQL database with Dagster's instance storage (whose own migrations
use the default table). Every method opens and closes its own transaction and returns frozen
records, so callers never hold a session.

Checks that must hold across processes (a budget, a rate limit) read and write in one
transaction that holds a lock: on PostgreSQL a transaction-scoped advisory lock per API key (and
per day, for spend), on SQLite the database write lock (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar
from uuid import uuid4

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from dagster import ConfigurableResource
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Connection,
    DateTime,
    Double,
    Engine,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    column,
    create_engine,
    delete,
    event,
    false,
    func,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from llmops.extras import needs_extra

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RATINGS = ("up", "down")
USAGE_STATUSES = ("charged", "refused")
# Any constant shared by every llmops process: concurrent first starts on one PostgreSQL
# database take turns migrating instead of racing to create the same tables.
_MIGRATION_LOCK = 7_306_641_203
# llmops's Alembic revision table; Dagster's instance storage keeps its own in `alembic_version`.
VERSION_TABLE = "llmops_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
R = TypeVar("R")


class MetadataStoreError(RuntimeError):
    """The metadata database cannot be reached or is misconfigured."""


class PromptVersionNotFoundError(LookupError):
    """A prompt version that is not in the store was referenced."""


class UnknownQueryError(LookupError):
    """A query id that is not in the query log was referenced."""


class UnknownApiKeyError(LookupError):
    """An API key id that is not in the store was referenced."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got the naive datetime {value}")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (no time zones) as well."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value, "a stored timestamp")
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


@dataclass(frozen=True)
class PromptVersion:
    """One immutable prompt version; `content` is the YAML source, `diff` against the previous."""

    name: str
    version: str
    content: str
    template: str
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    author: str | None = None
    diff: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))


@dataclass(frozen=True)
class ContextVersion:
    """One immutable context configuration version; `content` is its canonical JSON."""

    name: str
    version: str
    content: str
    description: str = ""
    author: str | None = None
    created_at: datetime = field(default_factory=utcnow)

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class ContextLabelMove:
    """The label `label` moved from one `NAME@VERSION` to another."""

    label: str
    from_ref: str | None
    to_ref: str
    reason: str
    moved_at: datetime
    id: int


@dataclass(frozen=True)
class LabelMove:
    """A label moved from one version to another (`from_version` is None on its first move)."""

    name: str
    label: str
    from_version: str | None
    to_version: str | None
    reason: str
    moved_at: datetime
    id: int


@dataclass(frozen=True)
class RetrievedChunk:
    """A chunk that was put into the prompt of an answer, with its retrieval score."""

    chunk_id: str
    source: str
    score: float


@dataclass(frozen=True)
class QueryRecord:
    """What the assistant served for one question, with everything needed to reproduce it."""

    question: str
    answer: str
    prompt_name: str
    prompt_version: str
    table_name: str
    table_version: int
    embedding_model: str
    chat_model: str
    chunks: tuple[RetrievedChunk, ...] = ()
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    trimmed: bool = False
    guardrails: tuple[Any, ...] = ()
    status: str = "answered"
    query_id: str = field(default_factory=lambda: str(uuid4()))
    created_at: datetime = field(default_factory=utcnow)
    api_key_id: str | None = None
    context: str | None = None  # NAME@VERSION of the context configuration that retrieved
    truncated: bool = False  # the answer was cut at the output token cap

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))


@dataclass(frozen=True)
class Feedback:
    query_id: str
    rating: str
    comment: str | None
    created_at: datetime
    id: int


@dataclass(frozen=True)
class UsageRecord:
    """One model call's tokens and cost; `refused` calls were stopped by the budget, not billed."""

    model: str
    purpose: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    status: str = "charged"
    prompt_version: str | None = None
    query_id: str | None = None
    detail: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None
    api_key_id: str | None = None

    def __post_init__(self) -> None:
        if self.status not in USAGE_STATUSES:
            raise ValueError(f"usage status must be one of {USAGE_STATUSES}, got {self.status!r}")
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))


@dataclass(frozen=True)
class EvaluationRecord:
    """One evaluation of a prompt version on an eval set; `gate_passed` is None when no gate
    ran (production itself, or nothing to compare with)."""

    prompt_name: str
    prompt_version: str
    label: str | None
    evalset: str
    evalset_digest: str
    table_version: int
    chat_model: str
    judge: dict[str, Any]
    metrics: dict[str, Any]
    gate_passed: bool | None = None
    gate_baseline: str | None = None
    gate_details: list[Any] = field(default_factory=list)
    cost_usd: float = 0.0
    scores_path: str | None = None
    run_id: str | None = None
    context: str | None = None  # NAME@VERSION of the context configuration that retrieved
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))


@dataclass(frozen=True)
class Alert:
    """Something a person should look at (e.g. semantic drift); `key` makes recording it twice
    a no-op, so a retried sensor tick does not raise the same alert again."""

    kind: str
    key: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))


@dataclass(frozen=True)
class GuardrailEvent:
    """One guardrail verdict on a question (`query_id`), an answer (`query_id`, stage output)
    or a chunk at ingest (`chunk_id`). Spans hold types and offsets only, never the text."""

    stage: str
    check: str
    action: str
    triggered: bool
    reason: str
    score: float = 0.0
    spans: list[dict[str, Any]] = field(default_factory=list)
    query_id: str | None = None
    chunk_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))


@dataclass(frozen=True)
class ApiKey:
    """An API key of the HTTP service; only the SHA-256 `hash` of its secret is stored (the
    secret is random and long, so a slow password hash would add latency, not safety)."""

    id: str
    name: str
    prefix: str
    hash: str
    scopes: list[str]
    rate_limit_per_minute: int
    daily_budget_usd: float | None = None
    created_at: datetime = field(default_factory=utcnow)
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", _utc(self.created_at, "created_at"))

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class SpendReservation:
    """USD held for one model call in flight: its worst-case cost, from before the call until
    the call is settled (the real cost is charged) or released (it failed). A process that dies
    in between leaves it behind until `expires_at`, after which it no longer counts."""

    id: int
    model: str
    purpose: str
    amount_usd: float
    api_key_id: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class DaySpend:
    """What the UTC day `day` has committed when a reservation is asked for: USD charged plus
    USD held by live reservations, by everybody (`total_usd`) and through API key `api_key_id`
    (`key_usd`), with that key's own daily budget as stored now (None: no limit or no key)."""

    day: date
    total_usd: float
    key_usd: float
    api_key_id: str | None = None
    key_budget_usd: float | None = None


def alembic_config() -> Config:
    """Alembic configuration of the metadata store's migrations, without an `alembic.ini`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _safe_url(url: str) -> str:
    """`url` without its password, or a placeholder if it does not even parse."""
    try:
        return _safe(make_url(url))
    except SQLAlchemyError:
        return "(an unparsable LLMOPS_DATABASE_URL)"


def _reason(exc: Exception) -> str:
    """The driver's own message on one line (not SQLAlchemy's statement and parameters)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def _with_driver(url: URL) -> URL:
    """`postgresql://` means psycopg 3 to SQLAlchemy 2.1; the pinned driver is psycopg2."""
    if url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        return url.set(drivername="postgresql+psycopg2")
    return url


@cache
def _engine(url: str, schema: str | None) -> Engine:
    parsed = _with_driver(make_url(url))
    if parsed.get_backend_name() == "sqlite":
        if schema:
            raise MetadataStoreError("db_schema applies to PostgreSQL only, not to SQLite")
        return _sqlite_engine(parsed)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = 10
        if schema:
            if not _SCHEMA_NAME.match(schema):
                raise MetadataStoreError(f"db_schema {schema!r} is not a plain SQL identifier")
            connect_args["options"] = f"-csearch_path={schema}"
    elif schema:
        raise MetadataStoreError(f"db_schema applies to PostgreSQL only, not to {_safe(parsed)}")
    with needs_extra("postgres"):  # the PostgreSQL driver, psycopg2
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL) -> Engine:
    """SQLite in WAL mode with foreign keys on, and real transactions.

    The driver's own transaction handling does not BEGIN before reads or DDL; SQLAlchemy emits
    BEGIN instead (IMMEDIATE for writes, so concurrent writers queue up instead of failing on a
    stale read snapshot).
    """
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _connection_record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        immediate = connection.get_execution_options().get("llmops_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@cache
def _sessions(url: str, schema: str | None, write: bool) -> sessionmaker[Session]:
    engine = _engine(url, schema)
    bind = engine.execution_options(llmops_write=True) if write else engine
    return sessionmaker(bind, expire_on_commit=False)


def _schema_exists(connection: Connection, schema: str) -> bool:
    """Asked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when it exists."""
    query = text("SELECT 1 FROM pg_namespace WHERE nspname = :schema")
    return connection.execute(query, {"schema": schema}).first() is not None


def _adopt_legacy_revision(connection: Connection, config: Config) -> None:
    """Move llmops's revision from `alembic_version` to `llmops_alembic_version`.

    Installs before the move kept it in Alembic's default table, which Dagster's instance
    storage also uses: on one shared database each side then found the other's revision and
    stopped. Only a revision of llmops's own history is moved; the old table is dropped if that
    leaves it empty, and kept (with Dagster's revision, say) otherwise.
    """
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or LEGACY_VERSION_TABLE not in tables:
        return
    script = ScriptDirectory.from_config(config)
    ours = {revision.revision for revision in script.walk_revisions()}
    legacy = table(LEGACY_VERSION_TABLE, column("version_num"))
    found = [v for v in connection.scalars(select(legacy.c.version_num)) if v in ours]
    if not found:
        return
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    context.stamp(script, found[0])
    connection.execute(delete(legacy).where(legacy.c.version_num.in_(found)))
    if not connection.scalar(select(func.count()).select_from(legacy)):
        connection.execute(text(f"DROP TABLE {LEGACY_VERSION_TABLE}"))


def _lock_id(*parts: object) -> int:
    """A signed 64-bit PostgreSQL advisory lock id for `parts` (a key, a day)."""
    digest = hashlib.blake2b(":".join(map(str, ("llmops", *parts))).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def _lock(session: Session, *parts: object) -> None:
    """Hold `parts`' advisory lock until the transaction ends (PostgreSQL; on SQLite the write
    transaction already holds the database lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_lock_id(*parts))))


_migrated: set[tuple[str, str | None]] = set()
_migrate_lock = threading.Lock()


class MetadataStore(ConfigurableResource):
    """Prompt registry, query log, feedback and cost ledger in one SQL database at `url`.

    `url` is a SQLAlchemy URL (`sqlite:///…/llmops.db`, `postgresql://…`); `db_schema` puts the
    tables into that PostgreSQL schema (created if missing) instead of the default one.
    """

    url: str
    db_schema: str | None = None
    api_key_id: str | None = None  # queries and usage written through this store belong to it

    def for_key(self, api_key_id: str | None) -> MetadataStore:
        """This store, attributing the queries and model calls it logs to API key `api_key_id`."""
        return MetadataStore(url=self.url, db_schema=self.db_schema, api_key_id=api_key_id)

    @property
    def engine(self) -> Engine:
        return _engine(self.url, self.db_schema)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (`alembic upgrade head`); a no-op if there.

        The revision of an install older than this table layout is first moved from
        `alembic_version` to `llmops_alembic_version`. Whatever fails is one MetadataStoreError
        line naming the database (without its password), never a driver traceback.
        """
        where = _safe_url(self.url)
        try:
            connection = self.engine.execution_options(llmops_write=True).connect()
        except OperationalError as exc:
            raise MetadataStoreError(
                f"cannot reach the metadata database {where}: {_reason(exc)}"
            ) from exc
        except SQLAlchemyError as exc:
            raise MetadataStoreError(
                f"cannot open the metadata database {where}: {_reason(exc)}"
            ) from exc
        config = alembic_config()
        try:
            with connection, connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
                    if self.db_schema and not _schema_exists(connection, self.db_schema):
                        connection.execute(text(f'CREATE SCHEMA "{self.db_schema}"'))
                _adopt_legacy_revision(connection, config)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except (CommandError, SQLAlchemyError) as exc:
            raise MetadataStoreError(
                f"cannot migrate the metadata database {where}: {_reason(exc)}"
            ) from exc
        _migrated.add((self.url, self.db_schema))

    def _ensure_migrated(self) -> None:
        if (self.url, self.db_schema) in _migrated:
            return
        with _migrate_lock:
            if (self.url, self.db_schema) not in _migrated:
                self.migrate()

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error.

        Pass `write=False` for reads: on SQLite they then do not queue for the write lock. A lost
        or refused connection raises `MetadataStoreError` (nothing of the transaction is kept).
        """
        self._ensure_migrated()
        try:
            with _sessions(self.url, self.db_schema, write).begin() as session:
                yield session
        except OperationalError as exc:
            raise MetadataStoreError(
                f"the metadata database {_safe_url(self.url)} is unavailable: {_reason(exc)}"
            ) from exc

    def add_prompt_version(self, record: PromptVersion) -> bool:
        """Store a new version; False if `name`+`version` exists (versions never change)."""
        try:
            with self.session() as session:
                if session.get(PromptVersionRow, (record.name, record.version)) is not None:
                    return False
                session.add(PromptVersionRow(**_fields(record)))
        except IntegrityError:
            if self.prompt_version(record.name, record.version) is not None:
                return False  # stored concurrently by another writer
            raise
        return True

    def prompt_version(self, name: str, version: str) -> PromptVersion | None:
        with self.session(write=False) as session:
            row = session.get(PromptVersionRow, (name, version))
            return _record(PromptVersion, row) if row else None

    def prompt_versions(self, name: str | None = None) -> list[PromptVersion]:
        """Every version (of prompt `name`, if given), newest first."""
        query = select(PromptVersionRow).order_by(
            PromptVersionRow.created_at.desc(), PromptVersionRow.name, PromptVersionRow.version
        )
        if name is not None:
            query = query.where(PromptVersionRow.name == name)
        with self.session(write=False) as session:
            return [_record(PromptVersion, row) for row in session.scalars(query)]

    def latest_prompt_version(self, name: str) -> PromptVersion | None:
        versions = self.prompt_versions(name)
        return versions[0] if versions else None

    def label(self, name: str, label: str) -> str | None:
        """The version `label` (e.g. `production`) of prompt `name` points at, if any."""
        with self.session(write=False) as session:
            row = session.get(PromptLabelRow, (name, label))
            return row.version if row else None

    def labels(self, name: str) -> dict[str, str]:
        query = select(PromptLabelRow).where(PromptLabelRow.name == name)
        with self.session(write=False) as session:
            return {row.label: row.version for row in session.scalars(query)}

    def move_label(self, name: str, label: str, version: str, reason: str) -> None:
        """Point `label` at `version` and record the move in the label history, atomically.

        Moving a label to the version it already points at changes and records nothing.
        """
        if not label:
            raise ValueError("a label must not be empty")
        with self.session() as session:
            if session.get(PromptVersionRow, (name, version)) is None:
                raise PromptVersionNotFoundError(
                    f"prompt {name!r} has no version {version!r}; cannot move {label!r} to it"
                )
            current = session.scalars(
                select(PromptLabelRow)
                .where(PromptLabelRow.name == name, PromptLabelRow.label == label)
                .with_for_update()
            ).one_or_none()
            previous = current.version if current else None
            if previous == version:
                return
            if current:
                current.version = version
            else:
                session.add(PromptLabelRow(name=name, label=label, version=version))
            session.add(
                LabelHistoryRow(
                    name=name,
                    label=label,
                    from_version=previous,
                    to_version=version,
                    moved_at=utcnow(),
                    reason=reason,
                )
            )

    def label_history(self, name: str) -> list[LabelMove]:
        """Every label move of prompt `name`, oldest first."""
        query = select(LabelHistoryRow).where(LabelHistoryRow.name == name)
        with self.session(write=False) as session:
            rows = session.scalars(query.order_by(LabelHistoryRow.id))
            return [_record(LabelMove, row) for row in rows]

    def add_context_version(self, record: ContextVersion) -> bool:
        """Store a new context version; False if it exists (versions never change)."""
        try:
            with self.session() as session:
                if session.get(ContextVersionRow, (record.name, record.version)) is not None:
                    return False
                session.add(ContextVersionRow(**_fields(record)))
        except IntegrityError:
            if self.context_version(record.name, record.version) is not None:
                return False
            raise
        return True

    def context_version(self, name: str, version: str) -> ContextVersion | None:
        with self.session(write=False) as session:
            row = session.get(ContextVersionRow, (name, version))
            return _record(ContextVersion, row) if row else None

    def context_versions(self) -> list[ContextVersion]:
        """Every context version, newest first."""
        query = select(ContextVersionRow).order_by(
            ContextVersionRow.created_at.desc(), ContextVersionRow.name, ContextVersionRow.version
        )
        with self.session(write=False) as session:
            return [_record(ContextVersion, row) for row in session.scalars(query)]

    def context_labels(self) -> dict[str, str]:
        """Each context label and the `NAME@VERSION` it points at."""
        with self.session(write=False) as session:
            rows = session.scalars(select(ContextLabelRow))
            return {row.label: f"{row.name}@{row.version}" for row in rows}

    def move_context_label(self, label: str, name: str, version: str, reason: str) -> None:
        """Point context label `label` at `name@version` and record the move, atomically."""
        with self.session() as session:
            if session.get(ContextVersionRow, (name, version)) is None:
                raise LookupError(f"context {name!r} has no version {version!r}")
            current = session.scalars(
                select(ContextLabelRow).where(ContextLabelRow.label == label).with_for_update()
            ).one_or_none()
            previous = f"{current.name}@{current.version}" if current else None
            target = f"{name}@{version}"
            if previous == target:
                return
            if current:
                current.name, current.version = name, version
            else:
                session.add(ContextLabelRow(label=label, name=name, version=version))
            session.add(
                ContextLabelHistoryRow(
                    label=label, from_ref=previous, to_ref=target, moved_at=utcnow(), reason=reason
                )
            )

    def context_label_history(self) -> list[ContextLabelMove]:
        query = select(ContextLabelHistoryRow).order_by(ContextLabelHistoryRow.id)
        with self.session(write=False) as session:
            return [_record(ContextLabelMove, row) for row in session.scalars(query)]

    def log_query(self, record: QueryRecord) -> None:
        if record.api_key_id is None and self.api_key_id is not None:
            record = replace(record, api_key_id=self.api_key_id)
        values = _fields(record)
        values["chunks"] = [_fields(chunk) for chunk in record.chunks]
        values["guardrails"] = list(record.guardrails)
        with self.session() as session:
            session.add(QueryLogRow(**values))

    def query(self, query_id: str) -> QueryRecord | None:
        with self.session(write=False) as session:
            row = session.get(QueryLogRow, query_id)
            return _query_record(row) if row else None

    def queries(
        self,
        since: datetime | None = None,
        ids: Collection[str] | None = None,
        until: datetime | None = None,
    ) -> list[QueryRecord]:
        """Logged queries (created at or after `since`, before `until`, and among `ids`, where
        given), oldest first."""
        query = select(QueryLogRow).order_by(QueryLogRow.created_at, QueryLogRow.query_id)
        if since is not None:
            query = query.where(QueryLogRow.created_at >= _utc(since, "since"))
        if until is not None:
            query = query.where(QueryLogRow.created_at < _utc(until, "until"))
        if ids is not None:
            query = query.where(QueryLogRow.query_id.in_(list(ids)))
        with self.session(write=False) as session:
            return [_query_record(row) for row in session.scalars(query)]

    def add_feedback(self, query_id: str, rating: str, comment: str | None = None) -> Feedback:
        """Record a thumbs-up or thumbs-down on a logged answer."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {RATINGS}, got {rating!r}")
        with self.session() as session:
            if session.get(QueryLogRow, query_id) is None:
                raise UnknownQueryError(f"no logged query has the id {query_id!r}")
            row = FeedbackRow(
                query_id=query_id, rating=rating, comment=comment, created_at=utcnow()
            )
            session.add(row)
            session.flush()
            return _record(Feedback, row)

    def feedback(self, since: datetime | None = None) -> list[Feedback]:
        """Feedback (given at or after `since`, if given), oldest first."""
        query = select(FeedbackRow).order_by(FeedbackRow.id)
        if since is not None:
            query = query.where(FeedbackRow.created_at >= _utc(since, "since"))
        with self.session(write=False) as session:
            return [_record(Feedback, row) for row in session.scalars(query)]

    def record_usage(self, record: UsageRecord) -> UsageRecord:
        """Append one model call to the ledger; returns it with its ledger id."""
        if record.api_key_id is None and self.api_key_id is not None:
            record = replace(record, api_key_id=self.api_key_id)
        return self._insert(UsageRow, record)

    def spend_on(self, day: date, api_key_id: str | None = None) -> float:
        """USD charged (refused calls excluded) on the UTC calendar day `day`, by every caller
        or, given `api_key_id`, through that API key only."""
        start = datetime.combine(day, time(), UTC)
        query = select(func.coalesce(func.sum(UsageRow.cost_usd), 0.0)).where(
            UsageRow.status == "charged",
            UsageRow.created_at >= start,
            UsageRow.created_at < start + timedelta(days=1),
        )
        if api_key_id is not None:
            query = query.where(UsageRow.api_key_id == api_key_id)
        with self.session(write=False) as session:
            return float(session.scalar(query))

    def reserve_spend(
        self,
        model: str,
        purpose: str,
        amount_usd: float,
        check: Callable[[DaySpend], None],
        ttl: timedelta,
        shared_budget: bool,
        now: datetime | None = None,
    ) -> SpendReservation:
        """Hold `amount_usd` for a call of `model` if `check` lets today's spend take it.

        In one transaction under the day's locks: today's charged USD plus live reservations,
        of everybody and of this store's API key (with that key's budget as stored now), go to
        `check`, which raises to refuse (nothing is held then); otherwise the reservation is
        stored, live for `ttl`. `shared_budget` says a budget over every caller applies, so the
        reservation also takes the lock that every other one of the day takes. `now` is for
        tests.
        """
        if amount_usd < 0:
            raise ValueError(f"a reservation must be ≥ 0 USD, got {amount_usd}")
        now = utcnow() if now is None else _utc(now, "now")
        with self.session() as session:
            if shared_budget:
                _lock(session, "spend", "*", now.date())
            if self.api_key_id is not None:
                _lock(session, "spend", self.api_key_id, now.date())
            check(self._day_spend(session, now))
            row = SpendReservationRow(
                created_at=now,
                expires_at=now + ttl,
                api_key_id=self.api_key_id,
                model=model,
                purpose=purpose,
                amount_usd=amount_usd,
            )
            session.add(row)
            session.flush()
            expired = (
                select(SpendReservationRow.id)
                .where(SpendReservationRow.expires_at <= now)
                .with_for_update(skip_locked=True)
            )
            session.execute(delete(SpendReservationRow).where(SpendReservationRow.id.in_(expired)))
            return _record(SpendReservation, row)

    def _day_spend(self, session: Session, now: datetime) -> DaySpend:
        """Today's committed spend, read in one statement (so one snapshot on PostgreSQL: a
        reservation settled meanwhile is counted once, as a reservation or as a charge)."""
        start = datetime.combine(now.date(), time(), UTC)
        end = start + timedelta(days=1)
        key = self.api_key_id

        def charged(*where) -> Any:
            return (
                select(func.coalesce(func.sum(UsageRow.cost_usd), 0.0))
                .where(
                    UsageRow.status == "charged",
                    UsageRow.created_at >= start,
                    UsageRow.created_at < end,
                    *where,
                )
                .scalar_subquery()
            )

        def held(*where) -> Any:
            return (
                select(func.coalesce(func.sum(SpendReservationRow.amount_usd), 0.0))
                .where(
                    SpendReservationRow.created_at >= start,
                    SpendReservationRow.created_at < end,
                    SpendReservationRow.expires_at > now,
                    *where,
                )
                .scalar_subquery()
            )

        budget = select(ApiKeyRow.daily_budget_usd).where(ApiKeyRow.id == key).scalar_subquery()
        total, by_key, key_budget = session.execute(
            select(
                charged() + held(),
                charged(UsageRow.api_key_id == key) + held(SpendReservationRow.api_key_id == key),
                budget,
            )
        ).one()
        return DaySpend(
            day=now.date(),
            total_usd=float(total),
            key_usd=float(by_key) if key is not None else 0.0,
            api_key_id=key,
            key_budget_usd=key_budget if key is not None else None,
        )

    def settle_spend(self, reservation: SpendReservation, record: UsageRecord) -> UsageRecord:
        """Replace `reservation` by the call's ledger entry `record`, atomically."""
        if record.api_key_id is None and reservation.api_key_id is not None:
            record = replace(record, api_key_id=reservation.api_key_id)
        values = _fields(record)
        del values["id"]
        with self.session() as session:
            session.execute(
                delete(SpendReservationRow).where(SpendReservationRow.id == reservation.id)
            )
            row = UsageRow(**values)
            session.add(row)
            session.flush()
            return _record(UsageRecord, row)

    def release_spend(self, reservation: SpendReservation) -> None:
        """Drop `reservation` without a charge: its call failed before the model answered."""
        with self.session() as session:
            session.execute(
                delete(SpendReservationRow).where(SpendReservationRow.id == reservation.id)
            )

    def spend_reservations(self) -> list[SpendReservation]:
        """Reservations still stored (live or expired but not yet swept), oldest first."""
        query = select(SpendReservationRow).order_by(SpendReservationRow.id)
        with self.session(write=False) as session:
            return [_record(SpendReservation, row) for row in session.scalars(query)]

    def take_rate_slot(
        self,
        api_key_id: str,
        per_window: int,
        window: timedelta = timedelta(minutes=1),
        now: datetime | None = None,
    ) -> float | None:
        """Count a request of `api_key_id` if fewer than `per_window` fell in the sliding
        `window` before it: None then, else the seconds until the oldest leaves the window
        (a refused request is not counted). Every process sharing the store sees one window.
        `now` is for tests.
        """
        if per_window < 1:
            raise ValueError(f"per_window must be positive, got {per_window}")
        now = utcnow() if now is None else _utc(now, "now")
        hits = RateLimitHitRow
        with self.session() as session:
            if session.get_bind().dialect.name == "postgresql":
                # A hit lost to a server crash only frees one request: no need to wait for disk.
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            _lock(session, "rate", api_key_id)
            session.execute(
                delete(hits).where(hits.api_key_id == api_key_id, hits.at <= now - window)
            )
            count, oldest = session.execute(
                select(func.count(), func.min(hits.at)).where(hits.api_key_id == api_key_id)
            ).one()
            if count >= per_window:
                return max(0.0, (oldest + window - now).total_seconds())
            session.add(hits(api_key_id=api_key_id, at=now))
            return None

    def usage(self, since: datetime | None = None) -> list[UsageRecord]:
        """Ledger entries (created at or after `since`, if given), oldest first."""
        query = select(UsageRow).order_by(UsageRow.created_at, UsageRow.id)
        if since is not None:
            query = query.where(UsageRow.created_at >= _utc(since, "since"))
        with self.session(write=False) as session:
            return [_record(UsageRecord, row) for row in session.scalars(query)]

    def add_evaluation(self, record: EvaluationRecord) -> EvaluationRecord:
        """Store one evaluation; returns it with its id."""
        return self._insert(EvaluationRow, record)

    def _insert(self, row_type: type[Base], record: R) -> R:
        """Insert `record` (whose `id` the database assigns); returns it with that id."""
        values = _fields(record)
        del values["id"]
        with self.session() as session:
            row = row_type(**values)
            session.add(row)
            session.flush()
            return _record(type(record), row)

    def evaluations(
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
        with self.session(write=False) as session:
            return [_record(EvaluationRecord, row) for row in session.scalars(query)]

    def add_alert(self, alert: Alert) -> bool:
        """Record an alert; False when one with the same `key` exists."""
        try:
            with self.session() as session:
                if session.scalar(select(AlertRow.id).where(AlertRow.key == alert.key)):
                    return False
                values = _fields(alert)
                del values["id"]
                session.add(AlertRow(**values))
        except IntegrityError:
            return False  # recorded concurrently by another writer
        return True

    def add_guardrail_events(self, events: Collection[GuardrailEvent]) -> None:
        """Record verdicts (all in one transaction)."""
        with self.session() as session:
            for event in events:
                values = _fields(event)
                del values["id"]
                session.add(GuardrailEventRow(**values))

    def guardrail_events(
        self, since: datetime | None = None, stage: str | None = None
    ) -> list[GuardrailEvent]:
        """Recorded verdicts (at or after `since`, of one `stage`, where given), oldest first."""
        query = select(GuardrailEventRow).order_by(GuardrailEventRow.id)
        if since is not None:
            query = query.where(GuardrailEventRow.created_at >= _utc(since, "since"))
        if stage is not None:
            query = query.where(GuardrailEventRow.stage == stage)
        with self.session(write=False) as session:
            return [_record(GuardrailEvent, row) for row in session.scalars(query)]

    def add_api_key(self, key: ApiKey) -> ApiKey:
        with self.session() as session:
            session.add(ApiKeyRow(**_fields(key)))
        return key

    def api_keys(self) -> list[ApiKey]:
        """Every API key, revoked ones included, oldest first."""
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        with self.session(write=False) as session:
            return [_record(ApiKey, row) for row in session.scalars(query)]

    def api_key_by_hash(self, digest: str) -> ApiKey | None:
        with self.session(write=False) as session:
            row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.hash == digest)).first()
            return _record(ApiKey, row) if row else None

    def has_active_api_keys(self) -> bool:
        """Whether any key is unrevoked: then the HTTP service requires one."""
        query = select(ApiKeyRow.id).where(ApiKeyRow.revoked_at.is_(None)).limit(1)
        with self.session(write=False) as session:
            return session.scalar(query) is not None

    def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke key `key_id` (revoking twice keeps the first time); UnknownApiKeyError if none."""
        with self.session() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise UnknownApiKeyError(f"no API key has the id {key_id!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return _record(ApiKey, row)

    def alerts(self, kind: str | None = None) -> list[Alert]:
        """Recorded alerts, newest first, optionally of one kind."""
        query = select(AlertRow).order_by(AlertRow.created_at.desc(), AlertRow.id.desc())
        if kind is not None:
            query = query.where(AlertRow.kind == kind)
        with self.session(write=False) as session:
            return [_record(Alert, row) for row in session.scalars(query)]


def _fields(record: Any) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _record(cls: type[R], row: Base) -> R:
    return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


def _query_record(row: QueryLogRow) -> QueryRecord:
    values = {name: getattr(row, name) for name in QueryRecord.__dataclass_fields__}
    values["chunks"] = tuple(RetrievedChunk(**chunk) for chunk in row.chunks)
    values["guardrails"] = tuple(row.guardrails)
    return QueryRecord(**values)
