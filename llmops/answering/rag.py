"""The answer path: retrieve → augment → generate, with budgets enforced before the call and
every answer logged with the exact versions that produced it (so `audit` can reproduce it).
"""

import difflib
import time
from dataclasses import dataclass, replace

import numpy as np

from llmops.costs.budget import BudgetExceededError, BudgetLimits, InputTooLongError, fit_context
from llmops.costs.metering import metered_complete
from llmops.errors import InputError
from llmops.guardrails.pipeline import INPUT, OUTPUT, Guardrails
from llmops.guardrails.verdicts import Verdict
from llmops.prompts.registry import spec_of
from llmops.prompts.specs import PromptSpec
from llmops.prompts.templating import Passage, canary_for, fence, marker_for, render_messages
from llmops.retrieval.contexts import FloorMode, RetrievalSpec
from llmops.retrieval.search import Retrieval, retrieve
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import (
    GuardrailEvent,
    PromptVersion,
    QueryRecord,
    RetrievedChunk,
)
from resources.embedder import Embedder
from resources.llm import Completion, LLMClient
from resources.vector_store import SearchHit, VectorStore, table_name

NO_ANSWER = "I don't know based on the handbook."
_FIT_ATTEMPTS = 4


@dataclass(frozen=True)
class RagSettings:
    """Retrieval depth and the similarity floor below which a chunk is not evidence.

    MiniLM cosine scores of unrelated handbook text sit around 0.1–0.3, so 0.35 keeps what is
    on topic; with nothing above it the assistant says it does not know and skips the LLM.
    """

    k: int = 5
    min_score: float = 0.35
    floor: FloorMode = "each"  # `best`: the floor decides abstention only (see RetrievalSpec)
    retrieval: RetrievalSpec | None = None  # vector search when None
    index_id: str | None = None  # the vector table key; None: the embedder's main table
    context: str | None = None  # NAME@VERSION of the context configuration, for lineage


@dataclass(frozen=True)
class Prepared:
    """Everything decided before the LLM call: the evidence, the messages, the token count."""

    passages: list[Passage]
    scores: list[float]
    messages: list[dict[str, str]]
    input_tokens: int
    max_output_tokens: int
    trimmed: bool
    table_version: int


def retrieve_with(
    queries: list[str],
    embedder: Embedder,
    vectors: VectorStore,
    settings: RagSettings,
    k: int | None = None,
    version: int | None = None,
    encoded: np.ndarray | None = None,
) -> list[Retrieval]:
    """Retrieve through the context configuration of `settings` (its table, search mode,
    fusion, caps; `k` defaults to its depth): the one path of search, ask, audit and eval."""
    return retrieve(
        queries,
        embedder,
        vectors,
        k=k or settings.k,
        version=version,
        vectors=encoded,
        spec=settings.retrieval,
        index_id=settings.index_id,
    )


def above_floor(hits: list[SearchHit], settings: RagSettings) -> list[SearchHit]:
    """The evidence among `hits`: none when the best is under the floor (abstain); otherwise
    every hit (`floor: best`) or those at or above it (`floor: each`)."""
    if settings.floor == "best":
        return list(hits) if hits and max(h.score for h in hits) >= settings.min_score else []
    return [h for h in hits if h.score >= settings.min_score]


def prepare(
    question: str,
    spec: PromptSpec,
    hits: list[SearchHit],
    table_version: int,
    llm: LLMClient,
    limits: BudgetLimits,
    request_id: str,
) -> Prepared:
    """Fit the evidence into the input budget (drop lowest-ranked first, never the question).

    Token counts of the parts do not add up exactly to the count of the rendered chat (joins
    and chat framing), so the fit is repeated with the overshoot taken off until the rendered
    messages themselves are within the limit.
    """
    marker, canary = marker_for(request_id), canary_for(request_id)
    passages = [Passage(h.chunk_id, h.document, h.text) for h in hits]
    overhead = llm.count_tokens(render_messages(spec, "", [], marker, canary))
    framing = max(
        (llm.count_text_tokens(fence(f"source: {p.source}\n", marker)) for p in passages), default=0
    )
    room = limits.max_input_tokens
    for _ in range(_FIT_ATTEMPTS):
        fitted = fit_context(
            question,
            [p.text for p in passages],
            llm.count_text_tokens,
            overhead,
            room,
            per_context_tokens=framing,
        )
        if passages and not fitted.contexts:
            break
        kept = [replace(p, text=text) for p, text in zip(passages, fitted.contexts, strict=False)]
        messages = render_messages(spec, question, kept, marker, canary)
        input_tokens = llm.count_tokens(messages)
        if input_tokens <= limits.max_input_tokens:
            return Prepared(
                passages=kept,
                scores=[h.score for h in hits[: len(kept)]],
                messages=messages,
                input_tokens=input_tokens,
                max_output_tokens=min(spec.model.max_output_tokens, limits.max_output_tokens),
                trimmed=fitted.trimmed or room < limits.max_input_tokens,
                table_version=table_version,
            )
        room -= input_tokens - limits.max_input_tokens
    raise InputTooLongError(
        f"no retrieved passage fits in LLMOPS_MAX_INPUT_TOKENS={limits.max_input_tokens} "
        f"next to a {overhead}-token prompt: raise the limit or shorten the prompt"
    )


@dataclass(frozen=True)
class Generation:
    """What the model was given and what it answered, with the answer's cost."""

    prepared: Prepared
    completion: Completion
    cost_usd: float


def generate(
    question: str,
    spec: PromptSpec,
    prompt_version: str,
    hits: list[SearchHit],
    table_version: int,
    llm: LLMClient,
    store: MetadataClient,
    limits: BudgetLimits,
    purpose: str,
    request_id: str,
    query_id: str | None = None,
) -> Generation:
    """Fit `hits` into the prompt and get the LLM's answer, within today's budget and recorded
    in the ledger under `purpose` (one path for answers, audits and eval answers)."""
    prepared = prepare(question, spec, hits, table_version, llm, limits, request_id)
    completion, spent = metered_complete(
        llm,
        prepared.messages,
        prepared.input_tokens,
        prepared.max_output_tokens,
        spec.model.temperature,
        store,
        limits,
        purpose,
        prompt_version,
        query_id,
    )
    return Generation(prepared, completion, spent)


def answer(
    question: str,
    prompt: PromptVersion,
    embedder: Embedder,
    vectors: VectorStore,
    llm: LLMClient,
    store: MetadataClient,
    limits: BudgetLimits,
    settings: RagSettings = RagSettings(),
    guardrails: Guardrails | None = None,
) -> QueryRecord:
    """Answer `question` with citations and log it with its full lineage.

    With `guardrails`, the question is checked first: PII is redacted before retrieval, the LLM
    and the log (only the redacted text is ever stored), a blocked question gets the guardrail's
    message without an LLM call, and the answer is checked before it is returned. Every verdict
    goes to the query's `guardrails` field and to the guardrail-events table.
    """
    started = time.perf_counter()
    spec = spec_of(prompt)
    question_tokens = llm.count_text_tokens(question)
    if question_tokens > limits.max_input_tokens:
        raise InputTooLongError(
            f"the question is {question_tokens} tokens, more than the {limits.max_input_tokens} "
            "input tokens a call may use (LLMOPS_MAX_INPUT_TOKENS): shorten the question"
        )
    record = QueryRecord(
        question=question,
        answer=NO_ANSWER,
        prompt_name=prompt.name,
        prompt_version=prompt.version,
        table_name=table_name(settings.index_id or embedder.model_id),
        table_version=0,
        embedding_model=embedder.model_id,
        chat_model=llm.model_id,
        status="no_context",
        context=settings.context,
    )
    vector = None  # the question as retrieved with (redacted), encoded once
    verdicts: list[tuple[str, Verdict]] = []
    if guardrails is not None:
        checked = guardrails.check_input(question)
        verdicts += [(INPUT, v) for v in checked.verdicts]
        if checked.vector is not None:
            vector = checked.vector[np.newaxis, :]
        record = replace(record, question=checked.redacted)
        if not checked.allowed:
            blocked = replace(record, answer=checked.message or "", status="blocked")
            return _log(blocked, verdicts, started, store)  # table_version 0: nothing retrieved
    [found] = retrieve_with([record.question], embedder, vectors, settings, encoded=vector)
    record = replace(record, table_version=found.index_version)
    hits = above_floor(found.hits, settings)
    if hits:
        try:
            made = generate(
                record.question,
                spec,
                prompt.version,
                hits,
                found.index_version,
                llm,
                store,
                limits,
                "answer",
                record.query_id,
                record.query_id,
            )
        except BudgetExceededError as exc:
            _log(replace(record, answer=str(exc), status="refused"), verdicts, started, store)
            raise
        record = replace(
            record,
            answer=made.completion.text.strip(),
            chat_model=made.completion.model,
            chunks=tuple(
                RetrievedChunk(p.chunk_id, p.source, round(s, 6))
                for p, s in zip(made.prepared.passages, made.prepared.scores, strict=True)
            ),
            input_tokens=made.completion.input_tokens,
            output_tokens=made.completion.output_tokens,
            cost_usd=made.cost_usd,
            trimmed=made.prepared.trimmed,
            truncated=made.completion.finish_reason == "length",
            status="answered",
        )
        if guardrails is not None:
            system_text = made.prepared.messages[0]["content"]
            checked = guardrails.check_output(
                record.answer, system_text, canary_for(record.query_id)
            )
            verdicts += [(OUTPUT, v) for v in checked.verdicts]
            record = (
                replace(record, answer=checked.redacted)
                if checked.allowed
                else replace(record, answer=checked.message or "", status="blocked_output")
            )
    return _log(record, verdicts, started, store)


def _log(
    record: QueryRecord,
    verdicts: list[tuple[str, Verdict]],
    started: float,
    store: MetadataClient,
) -> QueryRecord:
    """Log the query with its verdicts (in the record and as guardrail events)."""
    record = replace(
        record,
        guardrails=tuple({"stage": stage, **v.model_dump()} for stage, v in verdicts),
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    store.queries.log(record)
    store.guardrail_events.add(
        [
            GuardrailEvent(stage=stage, query_id=record.query_id, **v.model_dump())
            for stage, v in verdicts
        ]
    )
    return record


@dataclass(frozen=True)
class AuditResult:
    """A logged answer and what the same versions produce now."""

    lineage: QueryRecord
    chunk_ids: list[str]
    same_chunks: bool
    answer: str
    same_answer: bool
    answer_diff: str


def audit(
    record: QueryRecord,
    embedder: Embedder,
    vectors: VectorStore,
    llm: LLMClient,
    store: MetadataClient,
    limits: BudgetLimits,
    settings: RagSettings,
) -> AuditResult:
    """Re-run a logged query against the LanceDB version and prompt version it was served with,
    retrieving with `settings` (no default: `llmops.answering.audit.rerun_as_served` passes the
    logged context configuration, and built-in defaults would search differently from what was
    served).

    Retrieval reads the table checked out at the logged version, so later re-indexing does not
    change what comes back; the re-generation is charged to the ledger as purpose `audit`.
    """
    if embedder.model_id != record.embedding_model:
        raise InputError(
            f"query {record.query_id} was embedded with {record.embedding_model}; the configured "
            f"embedder is {embedder.model_id}: configure that model to audit it"
        )
    prompt = store.prompts.get(record.prompt_name, record.prompt_version)
    if prompt is None:
        raise InputError(f"prompt {record.prompt_name}@{record.prompt_version} is not stored")
    spec = spec_of(prompt)
    [found] = retrieve_with(
        [record.question], embedder, vectors, settings, version=record.table_version
    )
    hits = above_floor(found.hits, settings)
    chunk_ids: list[str] = []
    text = NO_ANSWER
    if hits:
        made = generate(
            record.question,
            spec,
            prompt.version,
            hits,
            record.table_version,
            llm,
            store,
            limits,
            "audit",
            record.query_id,
            record.query_id,
        )
        chunk_ids = [p.chunk_id for p in made.prepared.passages]
        text = made.completion.text.strip()
    diff = "".join(
        difflib.unified_diff(
            record.answer.splitlines(keepends=True),
            text.splitlines(keepends=True),
            "logged",
            "rerun",
        )
    )
    return AuditResult(
        lineage=record,
        chunk_ids=chunk_ids,
        same_chunks=chunk_ids == [c.chunk_id for c in record.chunks],
        answer=text,
        same_answer=text == record.answer,
        answer_diff=diff,
    )
