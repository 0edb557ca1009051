"""The HTTP service (`llmops serve`): ask, search, feedback and the audit view over HTTP, with
API keys, per-key rate limits and budgets, health and readiness probes and Prometheus metrics.

Models load once, in a background thread started with the app (`/readyz` says 503 until they
are in); handlers are plain functions, so FastAPI runs them in its thread pool, off the event
loop. Every error a request can cause is a 4xx with `{"detail": …}`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmops.budget import (
    BudgetExceededError,
    BudgetLimits,
    InputTooLongError,
    KeyBudgetExceededError,
)
from llmops.entrypoints import payloads
from llmops.entrypoints.access import Caller, digest
from llmops.errors import IndexNotFoundError, LlmopsError
from llmops.rag import RagSettings
from resources.llm import LLMError
from resources.metadata_store import (
    MetadataStore,
    MetadataStoreError,
    PromptVersionNotFoundError,
    UnknownQueryError,
)

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
MAX_BODY_BYTES = 64 * 1024
MAX_QUESTION_CHARS = 4000
LOAD_TIMEOUT_S = 600.0
log = logging.getLogger("llmops.service")


class ServiceNotReadyError(Exception):
    """The models are not loaded (yet), or loading them failed."""


@dataclass(frozen=True)
class Clients:
    """Everything a request needs, built once: models, stores, limits and guardrails."""

    embedder: Any
    vectors: Any
    llm: Any
    limits: BudgetLimits
    store: MetadataStore
    guardrails: Any
    settings: RagSettings = field(default_factory=RagSettings)

    @classmethod
    def from_env(cls) -> Clients:
        """The clients the CLI uses, as the environment configures them, retrieving with the
        production context configuration of start-up time."""
        from llmops.entrypoints.cli import (
            _answer_clients,
            _guardrails,
            _production_context,
            _synced_store,
        )

        store = _synced_store()
        embedder, vectors, llm, limits = _answer_clients()
        settings, embedder = _production_context(store, embedder)
        guardrails = _guardrails(embedder, vectors)
        return cls(embedder, vectors, llm, limits, store, guardrails, settings)

    def warm_up(self) -> None:
        """Load every model now rather than on the first request."""
        self.embedder.encode(["warm up"])
        self.guardrails.check_input("warm up")
        self.guardrails.redact_pii("warm up")
        if self.llm.provider == "local":
            self.llm.complete([{"role": "user", "content": "hi"}], 1, 0.0)


class ServiceState:
    """The clients once loaded (or why loading failed) and the metrics."""

    def __init__(self, factory: Callable[[], Clients]) -> None:
        self._factory = factory
        self._loaded = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()
        self.clients: Clients | None = None
        self.error: str | None = None
        self.metrics = Metrics()

    def start_loading(self) -> None:
        """Load the clients in a background thread, once (a restarted lifespan reuses them)."""
        with self._start_lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="llmops-load-models", daemon=True).start()

    def _load(self) -> None:
        try:
            clients = self._factory()
            clients.warm_up()
            self.clients = clients
        except Exception as exc:
            log.exception("loading the models failed")
            self.error = f"loading the models failed: {exc}"
        finally:
            self._loaded.set()

    def ready(self, timeout: float = LOAD_TIMEOUT_S) -> Clients:
        """The clients, waiting for them while they load."""
        if not self._loaded.wait(timeout):
            raise ServiceNotReadyError("the models are still loading; retry shortly")
        if self.clients is None:
            raise ServiceNotReadyError(self.error or "the models are not loaded")
        return self.clients


class Metrics:
    """Prometheus metrics of one app, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llmops_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llmops_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.tokens = Counter(
            "llmops_llm_tokens",
            "LLM tokens of served answers.",
            ["direction"],
            registry=self.registry,
        )
        self.cost = Counter(
            "llmops_llm_cost_usd", "USD spent on served answers.", registry=self.registry
        )
        self.answers = Counter(
            "llmops_answers", "Served answers by status.", ["status"], registry=self.registry
        )
        self.verdicts = Counter(
            "llmops_guardrail_verdicts",
            "Guardrail verdicts on served questions and answers.",
            ["stage", "check", "action", "triggered"],
            registry=self.registry,
        )

    def record_answer(self, lineage: dict[str, Any]) -> None:
        usage = lineage["usage"]
        self.tokens.labels("input").inc(usage["input_tokens"])
        self.tokens.labels("output").inc(usage["output_tokens"])
        self.cost.inc(usage["cost_usd"])
        self.answers.labels(lineage["status"]).inc()
        for v in lineage["guardrails"]:
            triggered = str(bool(v.get("triggered"))).lower()
            self.verdicts.labels(v.get("stage"), v.get("check"), v.get("action"), triggered).inc()


class BodySizeLimit:
    """413 for a request body over `max_bytes`, declared or streamed, before it is parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            too_large = declared.isdigit()
            response = JSONResponse(
                {"detail": self._message() if too_large else "invalid Content-Length header"},
                status_code=413 if too_large else 400,
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)

    def _message(self) -> str:
        return f"request body larger than {self.max_bytes} bytes"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


Text = Annotated[
    str, Field(min_length=1, max_length=MAX_QUESTION_CHARS), AfterValidator(_not_blank)
]


class AskRequest(Strict):
    question: Text
    prompt: str = Field(
        default="answer",
        min_length=1,
        max_length=200,
        description="NAME, NAME@LABEL or NAME@VERSION (default label: production).",
    )


class SearchRequest(Strict):
    query: Text
    k: int = Field(default=5, ge=1, le=100)


class FeedbackRequest(Strict):
    query_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=MAX_QUESTION_CHARS)


class Citation(BaseModel):
    chunk_id: str
    source: str
    score: float


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    cost_usd: float
    trimmed_context: bool


class Lineage(BaseModel):
    """A served answer and what produced it: the JSON of `llmops ask`."""

    query_id: str
    created_at: str
    question: str
    answer: str
    truncated: bool = False  # the answer was cut at the output token cap
    status: str
    prompt: str
    prompt_version: str
    table: str
    index_version: int
    embedding_model: str
    chat_model: str
    citations: list[Citation]
    usage: Usage
    latency_ms: float
    guardrails: list[dict[str, Any]]
    context: str | None = None  # NAME@VERSION of the context configuration that retrieved


class SearchHitOut(BaseModel):
    chunk_id: str
    source: str
    heading: str | None
    text: str
    score: float


class SearchResponse(BaseModel):
    """The JSON of `llmops search`."""

    query: str
    k: int
    index_version: int
    context: str | None = None  # NAME@VERSION of the context configuration that retrieved
    results: list[SearchHitOut]


class FeedbackOut(BaseModel):
    """The JSON of `llmops feedback`."""

    feedback_id: int
    query_id: str
    rating: str
    comment: str | None
    created_at: str


class FeedbackExport(BaseModel):
    feedback: list[FeedbackOut]


class Rerun(BaseModel):
    chunk_ids: list[str]
    same_chunks: bool
    answer: str
    same_answer: bool
    answer_diff: str


class AuditView(BaseModel):
    """The JSON of `llmops audit`; `rerun` only when asked for (it calls the LLM)."""

    lineage: Lineage
    rerun: Rerun | None = None


class Status(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    embedding_model: str
    chat_model: str
    index_version: int


class ErrorBody(BaseModel):
    detail: Any


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 422, 429)
}

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")


def _state(request: Request) -> ServiceState:
    return request.app.state.llmops


def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Caller:
    """The caller's key (required once any unrevoked key exists), within its rate limit."""
    state = _state(request)
    store = state.ready().store
    secret = bearer.credentials if bearer else header
    if not secret:
        if store.has_active_api_keys():
            raise HTTPException(
                401,
                "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Caller(key=None)
    key = store.api_key_by_hash(digest(secret))
    if key is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    if not key.active:
        raise HTTPException(403, f"API key {key.id} ({key.name}) was revoked")
    wait = store.take_rate_slot(key.id, key.rate_limit_per_minute)  # one window per store
    if wait is not None:
        raise HTTPException(
            429,
            f"rate limit of API key {key.id}: {key.rate_limit_per_minute} requests per minute; "
            f"retry in {wait:.0f} s",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    return Caller(key=key)


def admin(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    if not caller.admin:
        raise HTTPException(403, "this needs an API key with the admin scope")
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
AdminDep = Annotated[Caller, Depends(admin)]


def _seconds_to_utc_midnight() -> int:
    now = datetime.now(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((tomorrow - now).total_seconds()))


def _visible_query(store: MetadataStore, caller: Caller, query_id: str):
    """The logged query, if this caller may see it; otherwise 404 (existence is not revealed)."""
    record = store.query(query_id)
    if record is None or not caller.can_see(record):
        raise HTTPException(404, f"no logged query with id {query_id!r}")
    return record


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": " ".join(detail.split())}, status_code=status, headers=headers)


def _status_of(exc: Exception) -> tuple[int, dict[str, str] | None]:
    if isinstance(exc, BudgetExceededError | KeyBudgetExceededError):
        return 429, {"Retry-After": str(_seconds_to_utc_midnight())}
    if isinstance(exc, InputTooLongError):
        return 422, None
    if isinstance(exc, IndexNotFoundError | ServiceNotReadyError | MetadataStoreError):
        return 503, {"Retry-After": "5"}
    if isinstance(exc, LLMError):
        return 502, None
    if isinstance(exc, UnknownQueryError | PromptVersionNotFoundError):
        return 404, None
    return 400, None


def _install_error_handlers(app: FastAPI) -> None:
    async def handled(_request: Request, exc: Exception) -> JSONResponse:
        status, headers = _status_of(exc)
        return _error(status, str(exc), headers)

    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error", exc_info=exc)
        return _error(500, f"internal error ({type(exc).__name__}); see the server log")

    for kind in (
        LlmopsError,
        ServiceNotReadyError,
        MetadataStoreError,
        UnknownQueryError,
        PromptVersionNotFoundError,
    ):
        app.add_exception_handler(kind, handled)
    app.add_exception_handler(Exception, unexpected)


def _install_metrics(app: FastAPI) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        metrics = _state(request).metrics
        metrics.requests.labels(request.method, route, str(response.status_code)).inc()
        metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)
        return response


def create_app(
    clients: Clients | Callable[[], Clients] | None = None, max_body_bytes: int = MAX_BODY_BYTES
) -> FastAPI:
    """The service; `clients` are already built (tests), a factory, or None: from the
    environment. Nothing loads before the app starts."""
    if isinstance(clients, Clients):
        built = clients

        def factory() -> Clients:
            return built

    else:
        factory = clients or Clients.from_env
    state = ServiceState(factory)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state.start_loading()
        yield

    app = FastAPI(
        title="llmops",
        version="1",
        summary="The HR-handbook assistant: answers with citations, search and feedback.",
        lifespan=lifespan,
        docs_url=None,  # served from the package below, not from a CDN
        redoc_url=None,
    )
    app.state.llmops = state
    _install_docs(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    _install_metrics(app)
    _install_error_handlers(app)
    _routes(app)
    return app


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its JavaScript and CSS from the `swagger-ui-py` wheel (Swagger UI
    5, which reads OpenAPI 3.1), so the API docs render offline: FastAPI's documented
    self-hosting of the docs assets."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = files("swagger_ui") / "static"
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="llmops API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _routes(app: FastAPI) -> None:
    @app.post("/v1/ask", response_model=Lineage, responses=ERRORS, tags=["assistant"])
    def ask(body: AskRequest, request: Request, caller: CallerDep) -> dict[str, Any]:
        """Answer a question from the handbook, with citations; logged under the caller's key."""
        from llmops.rag import answer
        from llmops.registry import resolve

        state = _state(request)
        c = state.ready()
        store = c.store.for_key(caller.key_id)  # the LLM call reserves within the key's budget
        prompt = resolve(store, body.prompt)
        record = answer(
            body.question,
            prompt,
            c.embedder,
            c.vectors,
            c.llm,
            store,
            c.limits,
            c.settings,
            guardrails=c.guardrails,
        )
        payload = payloads.lineage(record)
        state.metrics.record_answer(payload)
        return payload

    @app.post("/v1/search", response_model=SearchResponse, responses=ERRORS, tags=["assistant"])
    def search(body: SearchRequest, request: Request, _caller: CallerDep) -> dict[str, Any]:
        """The K passages for the query as `/v1/ask` retrieves them, through the production
        context configuration of start-up time (no LLM call, nothing logged)."""
        from llmops.rag import retrieve_with

        c = _state(request).ready()
        [found] = retrieve_with([body.query], c.embedder, c.vectors, c.settings, k=body.k)
        return payloads.search_result(body.query, body.k, found, c.settings.context)

    @app.post(
        "/v1/feedback",
        response_model=FeedbackOut,
        status_code=201,
        responses=ERRORS,
        tags=["assistant"],
    )
    def feedback(body: FeedbackRequest, request: Request, caller: CallerDep) -> dict[str, Any]:
        """Rate an answer the caller was served, thumbs up or down (PII in comments redacted)."""
        c = _state(request).ready()
        _visible_query(c.store, caller, body.query_id)
        comment = c.guardrails.redact_pii(body.comment) if body.comment else body.comment
        return payloads.feedback(c.store.add_feedback(body.query_id, body.rating, comment))

    @app.get("/v1/queries/{query_id}", response_model=AuditView, responses=ERRORS, tags=["audit"])
    def query(
        query_id: str,
        request: Request,
        caller: CallerDep,
        rerun: Annotated[
            bool, Query(description="Re-run it against the same versions (admin; calls the LLM).")
        ] = False,
    ) -> dict[str, Any]:
        """The lineage of one served answer: a key sees the answers it asked, admins any."""
        c = _state(request).ready()
        record = _visible_query(c.store, caller, query_id)
        view: dict[str, Any] = {"lineage": payloads.lineage(record)}
        if rerun:
            if not caller.admin:
                raise HTTPException(403, "a re-run needs an API key with the admin scope")
            from llmops import rag
            from llmops.experiments import logged_context

            store = c.store.for_key(caller.key_id)
            settings, embedder = logged_context(c.store, record, c.embedder)
            result = rag.audit(record, embedder, c.vectors, c.llm, store, c.limits, settings)
            view["rerun"] = payloads.rerun(result)
        return view

    @app.get("/v1/feedback", response_model=FeedbackExport, responses=ERRORS, tags=["audit"])
    def feedback_export(request: Request, _admin: AdminDep) -> dict[str, Any]:
        """Every rating, oldest first (admin)."""
        return {
            "feedback": [payloads.feedback(f) for f in _state(request).ready().store.feedback()]
        }

    @app.get("/healthz", response_model=Status, tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up (it may still be loading models: see /readyz)."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": ErrorBody}},
        tags=["operations"],
    )
    def readyz(request: Request) -> dict[str, Any]:
        """Ready when the models are loaded and the index exists; 503 with the reason if not."""
        from llmops.retrieval import require_index

        state = _state(request)
        c = state.ready(timeout=0)
        model_id = require_index(c.embedder, c.vectors)
        return {
            "status": "ready",
            "embedding_model": model_id,
            "chat_model": c.llm.model_id,
            "index_version": c.vectors.version(model_id),
        }

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        """Prometheus metrics: requests, latency, tokens, cost, answers, guardrail verdicts."""
        registry = _state(request).metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
