"""The values that cross the metadata store's boundary: frozen records, and its errors.

Records are what repositories take and return; rows (in `rows`) never leave a session.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import uuid4

RATINGS = ("up", "down")
USAGE_STATUSES = ("charged", "refused")
K = TypeVar("K", "QueryRecord", "UsageRecord")


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


def as_utc(value: datetime, what: str) -> datetime:
    """`value` in UTC; ValueError (naming it `what`) if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got the naive datetime {value}")
    return value.astimezone(UTC)


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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))


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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))

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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))


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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))


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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))


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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))


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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))


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
        object.__setattr__(self, "created_at", as_utc(self.created_at, "created_at"))

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


def attributed(record: K, api_key_id: str | None) -> K:
    """`record`, attributed to API key `api_key_id` unless it names one already."""
    if record.api_key_id is None and api_key_id is not None:
        return replace(record, api_key_id=api_key_id)
    return record
