"""The JSON objects the CLI prints and the HTTP service returns, built in one place so both
faces of llmops always carry the same fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.answering.rag import AuditResult
    from llmops.retrieval.search import Retrieval
    from llmops.storage.metadata.records import ApiKey, Feedback, QueryRecord


# What a caller without the admin scope sees of a guardrail verdict: which check, what it does
# and whether it fired. Scores, reasons (thresholds, excerpts of the nearest known attacks) and
# spans would let an attacker tune a prompt until it passes.
PUBLIC_VERDICT_FIELDS = ("stage", "check", "action", "triggered")


def lineage(record: QueryRecord, verdict_details: bool = True) -> dict[str, Any]:
    """A served answer with everything that produced it (the JSON of `llmops ask`); without
    `verdict_details`, its guardrail verdicts carry only `PUBLIC_VERDICT_FIELDS`."""
    verdicts = [
        v if verdict_details else {f: v[f] for f in PUBLIC_VERDICT_FIELDS if f in v}
        for v in record.guardrails
    ]
    return {
        "query_id": record.query_id,
        "created_at": record.created_at.isoformat(),
        "question": record.question,
        "answer": record.answer,
        "truncated": record.truncated,
        "status": record.status,
        "prompt": f"{record.prompt_name}@{record.prompt_version}",
        "prompt_version": record.prompt_version,
        "table": record.table_name,
        "index_version": record.table_version,
        "embedding_model": record.embedding_model,
        "chat_model": record.chat_model,
        "citations": [
            {"chunk_id": c.chunk_id, "source": c.source, "score": c.score} for c in record.chunks
        ],
        "usage": {
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cost_usd": record.cost_usd,
            "trimmed_context": record.trimmed,
        },
        "latency_ms": record.latency_ms,
        "guardrails": verdicts,
        "context": record.context,
    }


def search_result(query: str, k: int, found: Retrieval, context: str | None) -> dict[str, Any]:
    """The chunks nearest to one query (the JSON of `llmops search`), and the context
    configuration (`NAME@VERSION`) that retrieved them."""
    return {
        "query": query,
        "k": k,
        "index_version": found.index_version,
        "context": context,
        "results": found.results(),
    }


def feedback(saved: Feedback) -> dict[str, Any]:
    """One recorded rating (the JSON of `llmops feedback`)."""
    return {
        "feedback_id": saved.id,
        "query_id": saved.query_id,
        "rating": saved.rating,
        "comment": saved.comment,
        "created_at": saved.created_at.isoformat(),
    }


def rerun(result: AuditResult) -> dict[str, Any]:
    """What the logged versions produce now (the `rerun` of `llmops audit`)."""
    return {
        "chunk_ids": result.chunk_ids,
        "same_chunks": result.same_chunks,
        "answer": result.answer,
        "same_answer": result.same_answer,
        "answer_diff": result.answer_diff,
    }


def api_key(key: ApiKey) -> dict[str, Any]:
    """An API key as `llmops keys` shows it: never its secret nor its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "rate_limit_per_minute": key.rate_limit_per_minute,
        "daily_budget_usd": key.daily_budget_usd,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
