"""`llmops ask`, `guard`, `audit` and `feedback`: answer a question, check an input, trace a
served answer, rate it."""

import json
from pathlib import Path

import click
from pydantic import BaseModel, Field

from llmops.entrypoints import human, payloads
from llmops.entrypoints.cli.app import cli, emit
from llmops.entrypoints.clients import (
    answer_clients,
    build_guardrails,
    index_clients,
    metadata_store,
    production_context,
    synced_store,
)
from llmops.errors import InputError
from llmops.jsonl import read_jsonl


@cli.command()
@click.argument("text")
@click.option(
    "--prompt",
    "prompt_ref",
    default="answer",
    show_default=True,
    help="NAME, NAME@LABEL or NAME@VERSION of the prompt (default label: production).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def ask(text: str, prompt_ref: str, as_json: bool) -> None:
    """Answer TEXT from the indexed handbook, with citations; the query is logged with the
    prompt, index and model versions that served it (see `llmops audit`).

    The chat model is the local SmolLM2-135M unless OPENAI_BASE_URL / OPENAI_API_KEY name an
    OpenAI-compatible endpoint (LLMOPS_CHAT_MODEL). Budgets: LLMOPS_MAX_INPUT_TOKENS,
    LLMOPS_MAX_OUTPUT_TOKENS, LLMOPS_DAILY_BUDGET_USD (checked before the call).
    """
    from llmops.answering.rag import answer
    from llmops.prompts.registry import resolve

    if not text.strip():
        raise InputError("TEXT is empty")
    store = synced_store()
    prompt = resolve(store, prompt_ref)
    embedder, vectors, llm, limits = answer_clients()
    settings, embedder = production_context(store, embedder)
    guardrails = build_guardrails(embedder, vectors)
    record = answer(
        text, prompt, embedder, vectors, llm, store, limits, settings, guardrails=guardrails
    )
    payload = payloads.lineage(record)
    sources = ", ".join(dict.fromkeys(c["source"] for c in payload["citations"])) or "none"
    cut = (
        f" […cut at the {record.output_tokens}-token output limit (LLMOPS_MAX_OUTPUT_TOKENS)]"
        if record.truncated
        else ""
    )
    emit(
        payload,
        as_json,
        f"{record.answer}{cut}\n\nsources: {sources}\nquery {record.query_id} · prompt "
        f"{payload['prompt']} · context {record.context or 'built-in defaults'} · "
        f"index v{record.table_version} · {record.chat_model} · "
        f"{record.input_tokens}+{record.output_tokens} tokens · ${record.cost_usd:.6f}",
    )


class BatchText(BaseModel):
    id: str | int
    text: str = Field(min_length=1)


@cli.command()
@click.argument("text", required=False)
@click.option("--batch", type=click.Path(path_type=Path), help="JSONL file of {id, text} lines.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (JSONL for --batch) on stdout.")
def guard(text: str | None, batch: Path | None, as_json: bool) -> None:
    """Run the input guardrails alone on TEXT, or on every line of a --batch file: what a
    question would become before retrieval and the LLM. Use it to tune the thresholds of
    guardrails.yaml (LLMOPS_GUARDRAILS) and to red-team a configuration.

    JSON (JSONL for --batch): `id`, `allowed`, `redacted` (the text as it would reach the LLM
    and the logs), `message` (what a blocked user is told), `verdicts` (`check`, `action`,
    `triggered`, `reason`, `score`, `spans` with `type`, `start`, `end`).
    """
    if (text is None) == (batch is None):
        raise click.UsageError("give either TEXT or --batch FILE (not both)")
    if text is not None and not text.strip():
        raise InputError("TEXT is empty")
    if batch is not None and not batch.is_file():
        raise InputError(f"--batch: {batch} does not exist or is not a file")
    inputs = read_jsonl(batch, BatchText) if batch else [BatchText(id=0, text=text)]
    if not inputs:
        raise InputError(f"--batch: {batch} has no texts")
    guardrails = build_guardrails(*index_clients())
    for item in inputs:
        checked = guardrails.check_input(item.text)
        payload = {"id": item.id if batch else None, **checked.as_dict()}
        if batch is not None:
            click.echo(json.dumps(payload, ensure_ascii=False))
            continue
        fired = [f"{v.check} ({v.action}): {v.reason}" for v in checked.triggered]
        verdict = "allowed" if checked.allowed else f"BLOCKED: {checked.message}"
        emit(payload, as_json, "\n".join([verdict, f"redacted: {checked.redacted}", *fired]))


@cli.command()
@click.argument("query_id")
@click.option(
    "--rerun",
    is_flag=True,
    help="Also re-run retrieval and the LLM against the logged versions and compare.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def audit(query_id: str, rerun: bool, as_json: bool) -> None:
    """Show how one served answer was made; --rerun reproduces it against the same versions.

    The lineage is the question, the answer, its status, the cited passages and the prompt,
    context, index and model versions. With --rerun, retrieval reads the LanceDB table checked
    out at the logged version with the logged context configuration, and the prompt at the
    logged version, so the same chunks come back even after re-indexing; with a deterministic
    model the same answer comes back too, and any difference is shown (as GET
    /v1/queries/ID?rerun=true does).
    """
    store = metadata_store()
    record = store.queries.get(query_id)
    if record is None:
        raise InputError(f"no logged query with id {query_id!r}")
    payload: dict = {"lineage": payloads.lineage(record)}
    result = None
    if rerun:
        from llmops.answering.audit import rerun_as_served

        embedder, vectors, llm, limits = answer_clients()
        result = rerun_as_served(record, embedder, vectors, llm, store, limits)
        payload["rerun"] = payloads.rerun(result)
    if as_json:
        emit(payload, True, "")
        return
    vectors = index_clients()[1]  # the cited passages' headings; no LLM needed to show them
    headings = vectors.headings(
        record.table_name, record.table_version, [c.chunk_id for c in record.chunks]
    )
    emit(payload, False, human.audit_text(payload["lineage"], headings, result))


@cli.command()
@click.argument("query_id")
@click.argument("rating", type=click.Choice(["up", "down"]))
@click.option("--comment", help="What was wrong (or right) with the answer.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def feedback(query_id: str, rating: str, comment: str | None, as_json: bool) -> None:
    """Rate a served answer (QUERY_ID from `llmops ask`) thumbs up or down.

    Thumbs-down answers are proposed as eval cases by `llmops evalset propose` (and the
    `negative_feedback` sensor), for a person to approve. PII in the comment is redacted
    before it is stored, as in questions.
    """
    from llmops.storage.metadata.records import UnknownQueryError

    if comment:
        comment = build_guardrails(*index_clients()).redact_pii(comment)
    try:
        saved = metadata_store().feedback.add(query_id, rating, comment)
    except UnknownQueryError as exc:
        raise InputError(f"{exc}: see `llmops ask --json` for query ids") from exc
    emit(payloads.feedback(saved), as_json, f"recorded thumbs {rating} for query {query_id}")
