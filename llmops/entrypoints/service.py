"""The HTTP service (`llmops serve`): ask, search, feedback and the audit view over HTTP, with
API keys, per-key rate limits and budgets, health and readiness probes and Prometheus metrics.

Closed by default: every `/v1` route needs an API key from the start, also while none exists
(then the 401 says how to create one). `llmops serve --insecure-open` serves anonymous callers
too, with a warning at start-up and in `/readyz`; an anonymous caller is never an admin.
`/metrics` and the detail of `/readyz` need an admin key; `/healthz`, the bare status of
`/readyz`, `/openapi.json` and `/docs` are open.

Models load in a background thread started with the app, retried with backoff while loading
fails (PostgreSQL not up yet, two replicas registering the first prompt at once); meanwhile
every route that needs them answers 503 with `Retry-After` at once, and after
`unhealthy_after` failures in a row `/healthz` turns 503 so the orchestrator restarts the pod.
Handlers are plain functions in FastAPI's thread pool; the ones that call the LLM run in a pool
of their own, `max_llm_calls` wide, and wait for a slot on the event loop, so slow LLM calls
cannot take every worker thread from the health probes.

Errors: a 4xx says what to fix in `{"detail"}`; a 5xx says only a generic `detail` and the
`request_id`, and the details (endpoint URLs, database hosts, driver errors) go to the server
log under that id. Every response carries its id in `X-Request-ID`.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from uuid import uuid4

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
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
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from llmops.answering.rag import RagSettings
from llmops.costs.budget import (
    BudgetExceededError,
    BudgetLimits,
    InputTooLongError,
    KeyBudgetExceededError,
)
from llmops.entrypoints import payloads
from llmops.entrypoints.access import ADMIN, CREATE_KEY_HINT, Caller, digest
from llmops.entrypoints.clients import (
    answer_clients,
    build_guardrails,
    production_context,
    synced_store,
)
from llmops.errors import IndexNotFoundError, LlmopsError
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import (
    MetadataStoreError,
    PromptVersionNotFoundError,
    UnknownQueryError,
)
from resources.llm import LLMError

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
MAX_BODY_BYTES = 64 * 1024
MAX_QUESTION_CHARS = 4000
MAX_LLM_CALLS = 8
REQUEST_ID_HEADER = "X-Request-ID"
INSECURE_OPEN_WARNING = (
    "--insecure-open: /v1 serves callers without an API key (never as admins); anyone who "
    "reaches this port can ask, search, rate answers and spend the LLM budget"
)
log = logging.getLogger("llmops.service")
T = TypeVar("T")


class ServiceNotReadyError(Exception):
    """The models are not loaded (yet): loading, or retrying after a failure."""


class ServiceUnhealthyError(Exception):
    """Loading the models failed too many times in a row: time for a restart."""


@dataclass(frozen=True)
class LoadRetry:
    """How loading the models is retried: jittered exponential backoff from `first_delay_s`,
    at most `max_delay_s` apart; after `unhealthy_after` failures in a row `/healthz` says 503
    (the retries go on, in case the fault clears before the restart)."""

    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    unhealthy_after: int = 5

    def delay_s(self, failures: int) -> float:
        delay = self.first_delay_s * 2 ** (failures - 1) * random.uniform(0.5, 1.0)
        return min(delay, self.max_delay_s)


@dataclass(frozen=True)
class ServiceOptions:
    """How the service runs: who it serves, how many LLM calls at once, how it loads."""

    insecure_open: bool = False  # serve callers without a key (never as admins)
    max_llm_calls: int = MAX_LLM_CALLS  # requests that may call the LLM at once
    max_body_bytes: int = MAX_BODY_BYTES
    load_retry: LoadRetry = field(default_factory=LoadRetry)

    @property
    def access(self) -> Literal["api_key", "insecure_open"]:
        return "insecure_open" if self.insecure_open else "api_key"


@dataclass(frozen=True)
class Clients:
    """Everything a request needs, built once: models, stores, limits and guardrails."""

    embedder: Any
    vectors: Any
    llm: Any
    limits: BudgetLimits
    store: MetadataClient
    guardrails: Any
    settings: RagSettings = field(default_factory=RagSettings)

    @classmethod
    def from_env(cls) -> Clients:
        """The clients the CLI uses, as the environment configures them, retrieving with the
        production context configuration of start-up time."""
        store = synced_store()
        embedder, vectors, llm, limits = answer_clients()
        settings, embedder = production_context(store, embedder)
        guardrails = build_guardrails(embedder, vectors)
        return cls(embedder, vectors, llm, limits, store, guardrails, settings)

    def warm_up(self) -> None:
        """Load every model now rather than on the first request."""
        self.embedder.encode(["warm up"])
        self.guardrails.check_input("warm up")
        self.guardrails.redact_pii("warm up")
        if self.llm.provider == "local":
            self.llm.complete([{"role": "user", "content": "hi"}], 1, 0.0)


class ServiceState:
    """The clients once loaded (and the load failures so far), the metrics and the slots of
    concurrent LLM calls."""

    def __init__(self, factory: Callable[[], Clients], options: ServiceOptions) -> None:
        self._factory = factory
        self.options = options
        self._loader: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self.clients: Clients | None = None
        self.failures = 0  # load attempts failed in a row
        self.metrics = Metrics()
        self.llm_slots: anyio.CapacityLimiter | None = None

    def start(self) -> None:
        """At app start-up: the LLM slots (of this event loop), and loading the clients in a
        background thread unless they are loaded or loading (a restarted lifespan reuses them)."""
        self.llm_slots = anyio.CapacityLimiter(self.options.max_llm_calls)
        if self.options.insecure_open:
            log.warning(INSECURE_OPEN_WARNING)
        with self._start_lock:
            if self.clients is not None or (self._loader and self._loader.is_alive()):
                return
            self._stop.clear()
            self._loader = threading.Thread(
                target=self._load, name="llmops-load-models", daemon=True
            )
            self._loader.start()

    def stop(self) -> None:
        """Stop retrying a load (at shutdown)."""
        self._stop.set()

    def _load(self) -> None:
        retry = self.options.load_retry
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                clients = self._factory()
                clients.warm_up()
            except Exception as exc:
                self.failures += 1
                delay = retry.delay_s(self.failures)
                expected = isinstance(exc, LlmopsError | MetadataStoreError)  # one line says it
                log.error(
                    "loading the models failed (%d in a row%s); retrying in %.1f s: %s",
                    self.failures,
                    ": /healthz now says 503" if self.failures >= retry.unhealthy_after else "",
                    delay,
                    " ".join(str(exc).split()) or type(exc).__name__,
                    exc_info=not expected,
                )
                self._stop.wait(delay)
                continue
            self.clients, self.failures = clients, 0
            log.info("models loaded in %.1f s", time.perf_counter() - started)
            self._say_how_to_get_a_key(clients.store)
            return

    def _say_how_to_get_a_key(self, store: MetadataClient) -> None:
        if self.options.insecure_open:
            return
        try:
            if store.api_keys.any_active():
                return
        except MetadataStoreError:
            return  # the requests will say so
        log.warning("no API key exists, so every /v1 request gets 401: %s", CREATE_KEY_HINT)

    @property
    def unhealthy(self) -> bool:
        return self.clients is None and self.failures >= self.options.load_retry.unhealthy_after

    def ready(self) -> Clients:
        """The clients; ServiceNotReadyError at once while they load (no thread waits)."""
        if self.clients is None:
            raise ServiceNotReadyError(
                "the models are still loading"
                + (f" (failed {self.failures} times so far)" if self.failures else "")
            )
        return self.clients

    async def call_llm(self, work: Callable[[], T]) -> T:
        """Run `work` (which may call the LLM) in a worker thread once one of the
        `max_llm_calls` slots is free; the request waits on the event loop, not in a thread."""
        if self.llm_slots is None:
            raise ServiceNotReadyError("the service is starting")
        return await anyio.to_thread.run_sync(work, limiter=self.llm_slots)


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

    def record_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class Observed:
    """Every HTTP request gets an id, returned in `X-Request-ID` and named in the log lines
    about it, and is counted in the metrics by route and status. An exception no handler
    took becomes a 500 that names only the request id; its traceback goes to the log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status, responded = 500, False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s: %s %s failed", request_id, scope["method"], scope["path"])
            if responded:  # too late for another response
                raise
            await _server_error(500, request_id)(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.record_request(
                scope["method"], route, status, time.perf_counter() - started
            )


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
    """Ready, and who is served; the models and the index version only for an admin key."""

    status: str
    access: Literal["api_key", "insecure_open"]
    warning: str | None = None  # set when anonymous callers are served
    embedding_model: str | None = None
    chat_model: str | None = None
    index_version: int | None = None


class ErrorBody(BaseModel):
    detail: Any
    request_id: str | None = None  # 5xx: look it up in the server log


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 413, 422, 429, 503)
}
LLM_ERRORS = {**ERRORS, 502: {"model": ErrorBody}}

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The API key")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
HeaderDep = Annotated[str | None, Depends(_header)]


def _state(request: Request) -> ServiceState:
    return request.app.state.llmops


def _request_id(request: Request) -> str:
    return getattr(request.state, "request_id", None) or uuid4().hex


def authenticate(request: Request, bearer: BearerDep, header: HeaderDep) -> Caller:
    """The caller's key, within its rate limit; no key is 401 unless the service was started
    with --insecure-open (then the caller is anonymous, never an admin)."""
    state = _state(request)
    store = state.ready().store
    secret = bearer.credentials if bearer else header
    if not secret:
        if state.options.insecure_open:
            return Caller(key=None)
        hint = (
            "send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
            if store.api_keys.any_active()
            else f"no key exists yet: {CREATE_KEY_HINT}"
        )
        raise HTTPException(
            401, f"an API key is required: {hint}", headers={"WWW-Authenticate": "Bearer"}
        )
    key = store.api_keys.by_hash(digest(secret))
    if key is None:
        raise HTTPException(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
    if not key.active:
        raise HTTPException(403, "this API key was revoked: ask for a new one")
    wait = store.rate_limits.take_slot(key.id, key.rate_limit_per_minute)  # one window per store
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


def _is_admin_key(store: MetadataClient, secret: str | None) -> bool:
    """Whether `secret` is an active admin key (for the detail of /readyz: no 401 there, a
    probe without a key gets the bare status)."""
    key = store.api_keys.by_hash(digest(secret)) if secret else None
    return key is not None and key.active and ADMIN in key.scopes


def _seconds_to_utc_midnight() -> int:
    now = datetime.now(UTC)
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1, int((tomorrow - now).total_seconds()))


def _visible_query(store: MetadataClient, caller: Caller, query_id: str):
    """The logged query, if this caller may see it; otherwise 404 (existence is not revealed)."""
    record = store.queries.get(query_id)
    if record is None or not caller.can_see(record):
        raise HTTPException(404, f"no logged query with id {query_id!r}")
    return record


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": " ".join(detail.split())}, status_code=status, headers=headers)


# What a caller is told of a 5xx; the exception itself goes to the log under the request id.
SERVER_ERRORS = {
    500: "internal error",
    502: "the language model did not answer; retry later",
    503: "the service is unavailable; retry later",
}


def _server_error(
    status: int, request_id: str, detail: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A 5xx body: a generic message (or `detail`, when it is safe to show) and the request
    id under which the log has the details."""
    message = detail or SERVER_ERRORS[status]
    return JSONResponse(
        {"detail": f"{message} (request id {request_id})", "request_id": request_id},
        status_code=status,
        headers=headers,
    )


def _status_of(exc: Exception) -> tuple[int, dict[str, str] | None]:
    if isinstance(exc, BudgetExceededError):  # the key's own budget too
        return 429, {"Retry-After": str(_seconds_to_utc_midnight())}
    if isinstance(exc, InputTooLongError):
        return 422, None
    if isinstance(exc, ServiceNotReadyError):
        return 503, {"Retry-After": "5"}
    if isinstance(exc, IndexNotFoundError | MetadataStoreError | ServiceUnhealthyError):
        return 503, {"Retry-After": "30"}
    if isinstance(exc, LLMError):
        return 502, None
    if isinstance(exc, UnknownQueryError | PromptVersionNotFoundError):
        return 404, None
    return 400, None


def _install_error_handlers(app: FastAPI) -> None:
    async def handled(request: Request, exc: Exception) -> JSONResponse:
        status, headers = _status_of(exc)
        if status < 500:
            return _error(status, _caller_message(exc), headers)
        request_id = _request_id(request)
        if isinstance(exc, ServiceNotReadyError):
            log.debug("request %s: 503, %s", request_id, exc)
            message = "the service is starting; retry in a few seconds"
            return _server_error(503, request_id, message, headers)
        log.error("request %s: %d, %s: %s", request_id, status, type(exc).__name__, exc)
        return _server_error(status, request_id, headers=headers)

    for kind in (
        LlmopsError,
        ServiceNotReadyError,
        ServiceUnhealthyError,
        MetadataStoreError,
        UnknownQueryError,
        PromptVersionNotFoundError,
    ):
        app.add_exception_handler(kind, handled)


def _caller_message(exc: Exception) -> str:
    """A 4xx's detail: the exception's message, except for the daily budget of the whole
    service, whose spend is the operator's business."""
    if isinstance(exc, BudgetExceededError) and not isinstance(exc, KeyBudgetExceededError):
        return "the service's daily LLM budget is used up; retry after midnight UTC"
    return str(exc)


def create_app(
    clients: Clients | Callable[[], Clients] | None = None,
    options: ServiceOptions | None = None,
) -> FastAPI:
    """The service; `clients` are already built (tests), a factory, or None: from the
    environment. Nothing loads before the app starts."""
    options = options or ServiceOptions()
    if isinstance(clients, Clients):
        built = clients

        def factory() -> Clients:
            return built

    else:
        factory = clients or Clients.from_env
    state = ServiceState(factory, options)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        state.start()
        yield
        state.stop()

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
    app.add_middleware(BodySizeLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(Observed, metrics=state.metrics)
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


def _ask(state: ServiceState, body: AskRequest, caller: Caller) -> dict[str, Any]:
    from llmops.answering.rag import answer
    from llmops.prompts.registry import resolve

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
    state.metrics.record_answer(payloads.lineage(record))
    return payloads.lineage(record, verdict_details=caller.admin)


def _audit_view(state: ServiceState, caller: Caller, query_id: str, rerun: bool) -> dict:
    c = state.ready()
    record = _visible_query(c.store, caller, query_id)
    view: dict[str, Any] = {"lineage": payloads.lineage(record, verdict_details=caller.admin)}
    if rerun:
        from llmops.answering.audit import rerun_as_served

        store = c.store.for_key(caller.key_id)
        result = rerun_as_served(record, c.embedder, c.vectors, c.llm, store, c.limits)
        view["rerun"] = payloads.rerun(result)
    return view


def _routes(app: FastAPI) -> None:
    @app.post("/v1/ask", response_model=Lineage, responses=LLM_ERRORS, tags=["assistant"])
    async def ask(body: AskRequest, request: Request, caller: CallerDep) -> dict[str, Any]:
        """Answer a question from the handbook, with citations; logged under the caller's key.
        Guardrail verdicts show their check, action and whether they triggered (and, to admin
        keys, their scores and reasons)."""
        state = _state(request)
        return await state.call_llm(partial(_ask, state, body, caller))

    @app.post("/v1/search", response_model=SearchResponse, responses=ERRORS, tags=["assistant"])
    def search(body: SearchRequest, request: Request, _caller: CallerDep) -> dict[str, Any]:
        """The K passages for the query as `/v1/ask` retrieves them, through the production
        context configuration of start-up time (no LLM call, nothing logged)."""
        from llmops.answering.rag import retrieve_with

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
        return payloads.feedback(c.store.feedback.add(body.query_id, body.rating, comment))

    @app.get(
        "/v1/queries/{query_id}", response_model=AuditView, responses=LLM_ERRORS, tags=["audit"]
    )
    async def query(
        query_id: str,
        request: Request,
        caller: CallerDep,
        rerun: Annotated[
            bool,
            Query(
                description="Re-run it as it was served: the same context configuration, "
                "table version and prompt version (admin; calls the LLM)."
            ),
        ] = False,
    ) -> dict[str, Any]:
        """The lineage of one served answer: a key sees the answers it asked, admins any."""
        state = _state(request)
        if rerun and not caller.admin:
            raise HTTPException(403, "a re-run needs an API key with the admin scope")
        view = partial(_audit_view, state, caller, query_id, rerun)
        return await (state.call_llm(view) if rerun else run_in_threadpool(view))

    @app.get("/v1/feedback", response_model=FeedbackExport, responses=ERRORS, tags=["audit"])
    def feedback_export(request: Request, _admin: AdminDep) -> dict[str, Any]:
        """Every rating, oldest first (admin)."""
        return {
            "feedback": [
                payloads.feedback(f) for f in _state(request).ready().store.feedback.find()
            ]
        }

    @app.get(
        "/healthz",
        response_model=Status,
        responses={503: {"model": ErrorBody}},
        tags=["operations"],
    )
    async def healthz(request: Request) -> dict[str, str]:
        """Liveness, open to all: the process is up (it may still be loading models: see
        /readyz); 503 once loading has failed `unhealthy_after` times in a row."""
        state = _state(request)
        if state.unhealthy:
            raise ServiceUnhealthyError(f"loading the models failed {state.failures} times")
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Readiness,
        response_model_exclude_none=True,
        responses={503: {"model": ErrorBody}},
        tags=["operations"],
        openapi_extra={"security": [{}]},  # the key is optional here
    )
    def readyz(request: Request, bearer: BearerDep, header: HeaderDep) -> Any:
        """Ready when the models are loaded and the index exists, else 503. Open to all: the
        status and who is served (with a warning under --insecure-open); with an admin key also
        the models and the index version, or why it is not ready."""
        from llmops.retrieval.search import require_index

        state = _state(request)
        c = state.ready()
        is_admin = _is_admin_key(c.store, bearer.credentials if bearer else header)
        try:
            index_id = require_index(c.embedder, c.vectors, c.settings.index_id)
        except IndexNotFoundError as exc:
            if not is_admin:
                raise
            return _server_error(503, _request_id(request), str(exc), {"Retry-After": "30"})
        body: dict[str, Any] = {"status": "ready", "access": state.options.access}
        if state.options.insecure_open:
            body["warning"] = INSECURE_OPEN_WARNING
        if is_admin:
            body |= {
                "embedding_model": c.embedder.model_id,
                "chat_model": c.llm.model_id,
                "index_version": c.vectors.version(index_id),
            }
        return body

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request, _admin: AdminDep) -> Response:
        """Prometheus metrics (admin): requests, latency, tokens, cost, answers, verdicts."""
        registry = _state(request).metrics.registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
