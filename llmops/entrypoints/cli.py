"""The `llmops` command line.

Every command takes `--json` and then prints exactly one JSON object on stdout (JSONL for
`search --batch`). Bad input exits 2 with one line on stderr naming it; with `--json` the same
message is also printed as `{"error": …}` on stdout.
"""

import json
import logging
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import click
from pydantic import BaseModel, Field

from llmops.config import Settings
from llmops.entrypoints import human, payloads
from llmops.entrypoints.clients import (
    answer_clients,
    build_guardrails,
    index_clients,
    metadata_store,
    production_context,
    synced_store,
)
from llmops.entrypoints.tables import text_table
from llmops.entrypoints.verbosity import configure as configure_logging
from llmops.entrypoints.verbosity import dagster_level, log_level
from llmops.errors import InputError, LlmopsError
from llmops.jsonl import read_jsonl
from resources.metadata_store import MetadataStoreError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class RunFailedError(Exception):
    """A Dagster run did not succeed; not the user's input but worth a one-line message."""


class GateFailedError(Exception):
    """`llmops eval --check`: a candidate failed its promotion gate (exit 1)."""


class PromotionRefusedError(LlmopsError):
    """The promotion gate has not passed for the version to promote."""


def _emit(payload: dict, as_json: bool, human: str) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else human)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llmops")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Show library and Dagster logs on stderr: -v INFO, -vv DEBUG [default: "
    "$LLMOPS_LOG_LEVEL or WARNING].",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Operate a retrieval-augmented assistant as versioned Dagster assets."""
    level = log_level(verbose, Settings.from_env().log_level)
    configure_logging(level)
    ctx.obj = {"log_level": level}


@cli.command()
@click.option(
    "--docs",
    type=click.Path(path_type=Path),
    help="Folder of Markdown, text and HTML documents [default: $LLMOPS_DOCS_DIR or corpus/].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def ingest(docs: Path | None, as_json: bool) -> None:
    """Index a docs folder: run the `reindex` job (corpus + index assets) through Dagster.

    Only chunks not yet embedded with the current model are encoded; chunks of changed or
    deleted documents are removed. The run is recorded in the Dagster instance under
    $LLMOPS_HOME, so it shows in the UI.
    """
    docs_dir = (docs or Settings.from_env().docs_dir).resolve()
    if not docs_dir.is_dir():
        raise InputError(f"--docs: {docs_dir} does not exist or is not a folder")
    if not any(path.is_file() for path in docs_dir.rglob("*")):
        # indexing an empty folder would remove every chunk: most likely the wrong folder
        raise InputError(f"--docs: {docs_dir} holds no files; nothing indexed, nothing removed")

    synced_store()  # the production context configuration decides whether it needs its own index
    started = time.perf_counter()
    result = _execute_job(
        "reindex", {"ops": {"source_documents": {"config": {"docs_dir": str(docs_dir)}}}}
    )
    seconds = time.perf_counter() - started
    scan = result.output_for_node("source_documents")
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("chunk_embeddings")[0].metadata.items()
    }
    payload = {
        "run_id": result.run_id,
        "docs_dir": str(docs_dir),
        "documents": len(scan.documents),
        "chunks": int(meta["chunks"]),
        "embedded": int(meta["embedded"]),
        "reused": int(meta["reused"]),
        "deleted": int(meta["deleted"]),
        "skipped": [{"path": s.path, "reason": s.reason} for s in scan.skipped],
        "table_version": int(meta["table_version"]),
        "seconds": round(seconds, 3),
    }
    skipped = "".join(f"\n  skipped {s['path']}: {s['reason']}" for s in payload["skipped"])
    _emit(
        payload,
        as_json,
        f"indexed {payload['documents']} documents from {docs_dir} "
        f"into {payload['chunks']} chunks: "
        f"{payload['embedded']} embedded, {payload['reused']} reused, {payload['deleted']} deleted "
        f"(table version {payload['table_version']}, {seconds:.1f}s, run {result.run_id}){skipped}",
    )


def _execute_job(
    name: str, run_config: dict, partition_key: str | None = None, checks_may_fail: bool = False
):
    """Run job `name` in this process on the instance under $LLMOPS_HOME (shown in the UI).

    Runs a killed process left behind are failed first, so they do not hold the LanceDB write
    slot, and this run records its process and renews its lease while it runs, so a later CLI
    (in this container or another) can tell it from a dead one (`pipelines.recovery`). A failed
    step raises RunFailedError with the step's last error line; with
    `checks_may_fail`, a step that failed only because a blocking asset check failed (its
    materialization is stored) does not.
    """
    import uuid

    from dagster import DagsterEventType

    from llmops.entrypoints.instance import dagster_instance
    from pipelines.definitions import build_definitions
    from pipelines.recovery import recover, run_lease

    instance = dagster_instance()
    for run_id in recover(instance):
        click.echo(f"recovered run {run_id}: its process had died; its pool slot is free", err=True)
    console = {"console": {"config": {"log_level": _dagster_level()}}}
    run_id = str(uuid.uuid4())  # known before the run starts, for its lease
    with run_lease(instance, run_id) as owner:
        defs = build_definitions(Settings.from_env())
        result = defs.resolve_job_def(name).execute_in_process(
            run_config={**run_config, "loggers": console},
            instance=instance,
            partition_key=partition_key,
            raise_on_error=False,
            run_id=run_id,
            tags=owner,
        )
    errors = [
        e.step_failure_data.error
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE and e.step_failure_data.error
    ]
    if (
        checks_may_fail
        and errors
        and all(e.cls_name == "DagsterAssetCheckFailedError" for e in errors)
    ):
        return result
    if not result.success:
        failures = [e.message.strip().splitlines()[-1] for e in errors]
        raise RunFailedError(
            f"{name} run {result.run_id} failed: {'; '.join(failures) or 'see the Dagster UI'}"
        )
    return result


def _dagster_level() -> str:
    """The console log level of in-process runs: the CLI's (WARNING unless -v)."""
    context = click.get_current_context(silent=True)
    obj = context.find_root().obj if context else None
    return dagster_level(obj["log_level"] if obj else logging.WARNING)


class BatchQuery(BaseModel):
    id: str | int
    query: str = Field(min_length=1)


@cli.command()
@click.argument("text", required=False)
@click.option("--batch", type=click.Path(path_type=Path), help="JSONL file of {id, query} lines.")
@click.option(
    "-k", "k", type=click.IntRange(1, 100), help="Results per query [default: the context's k]."
)
@click.option(
    "--context",
    "context_ref",
    help="NAME@VERSION (or NAME@LABEL) of the context configuration [default: production].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (JSONL for --batch) on stdout.")
def search(
    text: str | None, batch: Path | None, k: int | None, context_ref: str | None, as_json: bool
) -> None:
    """Find the passages for TEXT, or for every query of a --batch file, as `ask` retrieves
    them: through the production context configuration (or --context), whose name is printed.

    Batch output is JSONL, one line per query: `id`, `query`, `index_version`, `context`,
    `results`.
    """
    if (text is None) == (batch is None):
        raise click.UsageError("give either TEXT or --batch FILE (not both)")
    if text is not None and not text.strip():
        raise InputError("TEXT is empty")
    if batch is not None and not batch.is_file():
        raise InputError(f"--batch: {batch} does not exist or is not a file")
    queries = read_jsonl(batch, BatchQuery) if batch else [BatchQuery(id=0, query=text)]
    if not queries:
        raise InputError(f"--batch: {batch} has no queries")

    from llmops.answering.rag import retrieve_with
    from llmops.retrieval.experiments import serving_context

    embedder, vectors = index_clients()
    settings, embedder = serving_context(synced_store(), embedder, context_ref)
    k = k or settings.k
    retrievals = retrieve_with([q.query for q in queries], embedder, vectors, settings, k=k)
    if batch is not None:
        for q, r in zip(queries, retrievals, strict=True):
            line = {"id": q.id, **payloads.search_result(q.query, k, r, settings.context)}
            click.echo(json.dumps(line, ensure_ascii=False))
        return
    found = retrievals[0]
    _emit(
        payloads.search_result(text, k, found, settings.context),
        as_json,
        human.search_text(found.results(), settings.context),
    )


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
    _emit(
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
        _emit(payload, as_json, "\n".join([verdict, f"redacted: {checked.redacted}", *fired]))


def _promote_options(command):
    """NAME VERSION [--reason TEXT] [--force] [--json], shared by the gated promotions."""
    for option in reversed(
        [
            click.argument("name"),
            click.argument("version"),
            click.option("--reason", help="Why; recorded in the label history."),
            click.option(
                "--force",
                is_flag=True,
                help="Promote although the promotion gate failed or never ran (needs --reason).",
            ),
            click.option(
                "--json", "as_json", is_flag=True, help="Print one JSON object on stdout."
            ),
        ]
    ):
        command = option(command)
    return command


@cli.group()
def context() -> None:
    """Context configurations (`contexts/*.yaml`): chunking, embedder and retrieval settings,
    versioned by content; `production` is what `ask` and the service retrieve with."""


@context.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def context_list(as_json: bool) -> None:
    """Every registered version, newest first, with its labels."""
    store = synced_store()
    labels = store.context_labels()
    versions = [
        {
            "context": v.ref,
            "labels": sorted(label for label, ref in labels.items() if ref == v.ref),
            "description": v.description.strip(),
            "created_at": v.created_at.isoformat(),
        }
        for v in store.context_versions()
    ]
    rows = [
        (
            v["context"],
            ", ".join(v["labels"]) or "-",
            v["created_at"][:19].replace("T", " "),
            textwrap.shorten(v["description"], 72, placeholder=" …"),
        )
        for v in versions
    ]
    human = text_table(("context", "labels", "created (UTC)", "description"), rows) if rows else ""
    _emit({"versions": versions, "labels": labels}, as_json, human or "no context versions")


@context.command("promote")
@_promote_options
def context_promote(
    name: str, version: str, reason: str | None, force: bool, as_json: bool
) -> None:
    """Make NAME@VERSION (VERSION may be a label such as `candidate`) the production context.

    Refused unless its experiment (`llmops experiments run`) passed the promotion gate against
    the current production configuration, question by question on hit@5 and MRR@5;
    `--force --reason TEXT` overrides, and the label history records it. The service picks the
    new configuration up when it restarts.
    """
    from llmops.prompts.registry import PRODUCTION
    from llmops.retrieval.context_registry import resolve
    from llmops.retrieval.experiments import promotion_blocker

    if force and not (reason and reason.strip()):
        raise click.UsageError("--force needs --reason TEXT saying why the gate is overridden")
    store = synced_store()
    target = resolve(store, f"{name}@{version}")
    before = store.context_labels().get(PRODUCTION)
    blocker = promotion_blocker(Settings.from_env().reports_dir, target.ref, before)
    if blocker and not force:
        raise PromotionRefusedError(
            f"promotion refused: {blocker}; override with --force --reason TEXT"
        )
    reason = reason or "promoted from the command line"
    if blocker:
        reason = f"forced past the gate ({blocker}): {reason}"
    store.move_context_label(PRODUCTION, target.name, target.version, reason)
    payload = {
        "production": target.ref,
        "previous": before,
        "reason": reason,
        "forced": bool(blocker),
    }
    _emit(payload, as_json, f"context: production {before} -> {target.ref}")


@cli.group()
def experiments() -> None:
    """Context experiments: each configuration version's retrieval measured on the benchmarks
    (the handbook eval set; pydocs and the Django and SQLAlchemy FAQs' dev and held-out test
    splits once `make bench-corpus` built them)."""


@experiments.command("run")
@click.argument("refs", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def experiments_run(refs: tuple[str, ...], as_json: bool) -> None:
    """Run the `score_contexts` job for each REF (NAME@VERSION, NAME or a label; default:
    the current version of every file in `contexts/`), building or reusing its indexes.

    Prints each configuration's hit@5 with its 95% interval, MRR@5, latency and index size,
    and the comparison table with the Pareto-optimal configurations marked.
    """
    from assets.contexts import CONTEXT_VERSIONS
    from llmops.retrieval.context_registry import resolve
    from llmops.retrieval.contexts import load_context_files
    from llmops.retrieval.experiments import comparison, comparison_markdown, load_summaries

    settings = Settings.from_env()
    store = synced_store()
    targets = (
        [resolve(store, r) for r in refs]
        if refs
        else [resolve(store, f.spec.ref) for f in load_context_files(settings.contexts_dir)]
    )
    from llmops.entrypoints.instance import dagster_instance

    instance = dagster_instance(settings)
    instance.add_dynamic_partitions(CONTEXT_VERSIONS.name, [t.ref for t in targets])
    for target in targets:
        click.echo(f"experiment {target.ref} ...", err=True)
        _execute_job("score_contexts", {}, target.ref)
    summaries = load_summaries(settings.reports_dir)
    table = comparison(summaries)
    ran = {t.ref for t in targets}
    payload = {
        "experiments": [s for s in summaries if s["context"] in ran],
        "comparison": table.to_dict(orient="records"),
    }
    _emit(payload, as_json, comparison_markdown(table))


@experiments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def experiments_list(as_json: bool) -> None:
    """The comparison of every experiment run so far, per benchmark."""
    from llmops.retrieval.experiments import comparison, comparison_markdown, load_summaries

    table = comparison(load_summaries(Settings.from_env().reports_dir))
    _emit({"comparison": table.to_dict(orient="records")}, as_json, comparison_markdown(table))


@experiments.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def experiments_show(ref: str, as_json: bool) -> None:
    """One configuration's experiment (REF: NAME@VERSION, NAME or a label) and its gate
    against production."""
    from llmops.prompts.registry import PRODUCTION
    from llmops.retrieval.context_registry import resolve
    from llmops.retrieval.experiments import experiment_dir, gate_context

    settings = Settings.from_env()
    store = synced_store()
    record = resolve(store, ref)
    path = experiment_dir(settings.reports_dir, record.ref) / "summary.json"
    if not path.is_file():
        raise InputError(
            f"no experiment of {record.ref}: run `llmops experiments run {record.ref}`"
        )
    summary = json.loads(path.read_text())
    production = store.context_labels().get(PRODUCTION)
    gate = None
    if production and production != record.ref:
        result = gate_context(settings.reports_dir, record.ref, production)
        summary["gate"] = {
            "passed": result.passed,
            "baseline": production,
            "metrics": result.details(),
        }
        gate = result.markdown()
    lines = [f"{record.ref}  ({', '.join(summary['skipped']) or 'all benchmarks ran'})"]
    for b in summary["scores"]:
        lines.append(
            f"  {b['benchmark']}: hit@5 {b['hit_at_5'][0]:.3f} [{b['hit_at_5'][1]:.3f}, "
            f"{b['hit_at_5'][2]:.3f}]  MRR@5 {b['mrr_at_5'][0]:.3f}  hit@1 {b['hit_at_1'][0]:.3f}  "
            f"p50/p95 {b['latency_p50_ms']:.1f}/{b['latency_p95_ms']:.1f} ms  "
            f"{b['index']['size_bytes'] / 1e6:.1f} MB  built in "
            f"{b['index']['build_seconds']:.1f} s ({b['index']['embedded']} encoded)"
        )
    _emit(summary, as_json, "\n".join(lines) + (f"\n\n{gate}" if gate else ""))


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
    record = store.query(query_id)
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
        _emit(payload, True, "")
        return
    vectors = index_clients()[1]  # the cited passages' headings; no LLM needed to show them
    headings = vectors.headings(
        record.table_name, record.table_version, [c.chunk_id for c in record.chunks]
    )
    _emit(payload, False, human.audit_text(payload["lineage"], headings, result))


@cli.command("eval")
@click.option(
    "--evalset",
    type=click.Path(path_type=Path),
    help="JSONL eval set inside $LLMOPS_EVALSETS_DIR (or evalsets/) "
    "[default: handbook.jsonl there].",
)
@click.option(
    "--prompt",
    "prompt_ref",
    default="answer",
    show_default=True,
    help="NAME (its production and candidate versions), NAME@LABEL or NAME@VERSION.",
)
@click.option(
    "--judge-repeats",
    type=click.IntRange(1, 10),
    help="Judge every question N times to measure judge variance [default: 1].",
)
@click.option("--check", is_flag=True, help="Exit 1 when a candidate fails the promotion gate.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def eval_command(
    evalset: Path | None, prompt_ref: str, judge_repeats: int | None, check: bool, as_json: bool
) -> None:
    """Score prompt versions on an eval set, through the Dagster `evaluate` job.

    Retrieval hit@5 and MRR@5, semantic and string similarity to the reference answers,
    groundedness in the retrieved passages and abstention accuracy, always; faithfulness,
    answer relevancy, context precision and recall with a judge model (LLMOPS_JUDGE_MODEL on an
    OpenAI-compatible endpoint), calibrated on evalsets/judge_calibration.jsonl. Every metric
    is a mean with a 95% bootstrap interval. A candidate is gated against production question
    by question; `llmops prompts promote` needs that gate passed.
    """
    import os

    from assets.prompts import PROMPT_VERSIONS, partition_key
    from llmops.evaluation.evalsets import evalset_path, load_evalset

    settings = Settings.from_env()
    path = evalset_path(evalset and evalset.resolve(), settings.evalsets_dir)
    if not path.is_file():
        raise InputError(f"--evalset: {path} does not exist or is not a file")
    load_evalset(path, settings.docs_dir)
    from llmops.retrieval.search import require_index

    store = synced_store()
    embedder, vectors = index_clients()
    context, embedder = production_context(store, embedder)
    require_index(embedder, vectors, context.index_id)
    if judge_repeats:
        os.environ["LLMOPS_JUDGE_REPEATS"] = str(judge_repeats)
    targets = _eval_targets(store, prompt_ref)
    from llmops.entrypoints.instance import dagster_instance

    keys = [partition_key(t.name, t.version) for t in targets]
    dagster_instance(settings).add_dynamic_partitions(PROMPT_VERSIONS.name, keys)
    results = []
    for target, key in zip(targets, keys, strict=True):
        run = _execute_job(
            "evaluate",
            {"ops": {"eval_dataset": {"config": {"evalset": str(path)}}}},
            key,
            checks_may_fail=True,
        )
        record = next(
            e for e in store.evaluations(target.name, target.version) if e.run_id == run.run_id
        )
        results.append(_evaluation_json(record))
    payload = {"evalset": str(path), "results": results}
    _emit(payload, as_json, "\n\n".join(_evaluation_text(r) for r in results))
    if check and any(r["gate"]["passed"] is False for r in results):
        raise GateFailedError("a candidate failed the promotion gate")


def _eval_targets(store, ref: str) -> list:
    """NAME alone means its production and (if different) candidate version, production first."""
    from llmops.prompts.registry import CANDIDATE, PRODUCTION, resolve

    if "@" in ref:
        return [resolve(store, ref)]
    production = resolve(store, f"{ref}@{PRODUCTION}")
    candidate = store.label(ref, CANDIDATE)
    targets = [production]
    if candidate and candidate != production.version:
        targets.append(resolve(store, f"{ref}@{candidate}"))
    return targets


def _evaluation_json(record) -> dict:
    return {
        "prompt": record.prompt_name,
        "version": record.prompt_version,
        "label": record.label,
        "metrics": record.metrics,
        "judge": record.judge,
        "gate": {
            "passed": record.gate_passed,
            "baseline": record.gate_baseline,
            "details": record.gate_details
            if record.gate_passed is not None
            else "production is the baseline: no gate",
        },
        "cost_usd": record.cost_usd,
        "index_version": record.table_version,
        "chat_model": record.chat_model,
        "scores_path": record.scores_path,
        "evaluation_id": record.id,
        "context": record.context,
    }


def _evaluation_text(result: dict) -> str:
    from llmops.evaluation.scoring import summary_markdown

    title = f"{result['prompt']}@{result['version']} ({result['label'] or 'unlabelled'})"
    judge = result["judge"]
    table = summary_markdown(title, result["metrics"], judge["model"], judge["trusted"])
    gate = result["gate"]
    verdict = (
        "no gate (production is the baseline)"
        if gate["passed"] is None
        else f"gate against {gate['baseline']}: {'passed' if gate['passed'] else 'FAILED'}"
    )
    return (
        f"{table}\n\n{verdict} · context {result['context'] or 'built-in defaults'} · "
        f"cost ${result['cost_usd']:.6f} · {result['scores_path']}"
    )


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
    from resources.metadata_store import UnknownQueryError

    if comment:
        comment = build_guardrails(*index_clients()).redact_pii(comment)
    try:
        saved = metadata_store().add_feedback(query_id, rating, comment)
    except UnknownQueryError as exc:
        raise InputError(f"{exc}: see `llmops ask --json` for query ids") from exc
    _emit(payloads.feedback(saved), as_json, f"recorded thumbs {rating} for query {query_id}")


@cli.command()
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    required=True,
    help="Reference texts: JSONL with a `text` field, or one text per line.",
)
@click.option(
    "--current",
    type=click.Path(path_type=Path),
    required=True,
    help="Current texts, same formats.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def drift(reference: Path, current: Path, as_json: bool) -> None:
    """Has what users ask changed in meaning between two sets of texts?

    Works on any two files, without a Dagster instance. When the knowledge base is indexed,
    each emerging topic also says how well the index covers it (best retrieval score).
    JSON: `drift`, `score`, `threshold`, `method`, `explanation` (emerging topics with example
    texts), plus the surface baseline and evidently's scores beside them.
    """
    from llmops.jsonl import read_texts
    from llmops.monitoring.drift import MIN_DRIFT_TEXTS, drift_report

    options = (("--reference", reference), ("--current", current))
    for option, path in options:
        if not path.is_file():
            raise InputError(f"{option}: {path} does not exist or is not a file")
    windows = []
    for option, path in options:
        texts = read_texts(path)
        if len(texts) < MIN_DRIFT_TEXTS:
            raise InputError(
                f"{option}: {path} holds {len(texts)} text; a drift test needs at least "
                f"{MIN_DRIFT_TEXTS} per window"
            )
        windows.append(texts)
    reference_texts, current_texts = windows
    embedder, vectors = index_clients()
    from llmops.retrieval.search import best_scores

    coverage = (
        partial(best_scores, model_id=embedder.model_id, store=vectors)
        if vectors.has_table(embedder.model_id)
        else None
    )
    report = drift_report(reference_texts, current_texts, embedder.encode, coverage)
    payload = report.to_dict()
    _emit(payload, as_json, payload["explanation"]["summary"])


@cli.command()
@click.option("--kind", help="Only alerts of this kind (e.g. semantic_drift).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def alerts(kind: str | None, as_json: bool) -> None:
    """Alerts recorded by the sensors, newest first (e.g. a failed semantic drift check, with
    the evaluations of production it requested)."""
    found = metadata_store().alerts(kind)
    payload = {
        "alerts": [
            {
                "id": a.id,
                "kind": a.kind,
                "created_at": a.created_at.isoformat(),
                "message": a.message,
                "details": a.details,
            }
            for a in found
        ]
    }
    human = "\n\n".join(f"[{a.created_at:%Y-%m-%d %H:%M} UTC] {a.kind}\n{a.message}" for a in found)
    _emit(payload, as_json, human or "no alerts")


@cli.group()
def evalset() -> None:
    """Eval cases proposed from thumbs-down feedback: propose them, approve them."""


@evalset.command("propose")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def evalset_propose(as_json: bool) -> None:
    """Write every thumbs-down answer not yet proposed to $LLMOPS_EVALSETS_DIR/candidates/
    (the `feedback_eval_candidates` asset, run through Dagster)."""
    result = _execute_job("propose_eval_cases", {})
    meta = result.asset_materializations_for_node("feedback_eval_candidates")[0].metadata
    folder = Settings.from_env().candidates_dir
    pending = sorted(p.stem for p in folder.glob("*.json"))
    payload = {"new": int(meta["new"].value), "pending": pending, "folder": str(folder)}
    _emit(
        payload,
        as_json,
        f"{payload['new']} new proposal(s); pending in {folder}: {', '.join(pending) or 'none'}",
    )


@evalset.command("approve")
@click.argument("case_id")
@click.option("--reference-answer", required=True, help="The answer a careful reader gives.")
@click.option(
    "--gold-source",
    "gold_sources",
    multiple=True,
    help="Document (relative to the docs folder) that answers it; repeat for several "
    "[default: the documents the rejected answer cited].",
)
@click.option(
    "--unanswerable", is_flag=True, help="The handbook cannot answer it: no gold sources."
)
@click.option(
    "--evalset",
    "evalset_file",
    type=click.Path(path_type=Path),
    help="Eval set to add it to, inside $LLMOPS_EVALSETS_DIR [default: handbook.jsonl there].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def evalset_approve(
    case_id: str,
    reference_answer: str,
    gold_sources: tuple[str, ...],
    unanswerable: bool,
    evalset_file: Path | None,
    as_json: bool,
) -> None:
    """Move proposed case CASE_ID into the eval set with the reference answer you give; the
    next `llmops eval` scores it."""
    from llmops.evaluation.evalsets import evalset_path
    from llmops.evaluation.feedback import approve

    if unanswerable and gold_sources:
        raise click.UsageError("give --gold-source or --unanswerable, not both")
    settings = Settings.from_env()
    target = evalset_path(evalset_file and evalset_file.resolve(), settings.evalsets_dir)
    case = approve(
        settings.candidates_dir,
        case_id,
        reference_answer,
        target,
        settings.docs_dir,
        () if unanswerable else (gold_sources or None),
    )
    payload = {"evalset": str(target), "case": case.model_dump(mode="json")}
    _emit(payload, as_json, f"added {case.id} to {target}")


@cli.group()
def prompts() -> None:
    """The prompt registry: versions of prompts/*.yaml, labels, promotion and rollback.

    Every command first registers new contents of the prompt files (first version of a prompt
    becomes `production`, later ones `candidate`).
    """


@prompts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def prompts_list(as_json: bool) -> None:
    """Every prompt with its versions (newest first) and labels."""
    store = synced_store()
    listing: dict[str, list[dict]] = {}
    for record in store.prompt_versions():
        labels = store.labels(record.name)
        listing.setdefault(record.name, []).append(
            {
                "version": record.version,
                "labels": sorted(k for k, v in labels.items() if v == record.version),
                "created_at": record.created_at.isoformat(),
                "author": record.author,
                "description": record.description,
            }
        )
    rows = [
        (
            f"{name}@{v['version']}",
            ", ".join(v["labels"]) or "-",
            v["created_at"][:19].replace("T", " "),
            v["author"],
        )
        for name, versions in sorted(listing.items())
        for v in versions
    ]
    human = text_table(("prompt", "labels", "created (UTC)", "author"), rows) if rows else ""
    _emit({"prompts": listing}, as_json, human or "no prompts")


@prompts.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def prompts_show(ref: str, as_json: bool) -> None:
    """One version: REF is NAME, NAME@LABEL or NAME@VERSION (default: production).

    Shows its content, its diff against the version before it, and the label history.
    """
    from llmops.prompts.registry import resolve, spec_of

    store = synced_store()
    record = resolve(store, ref)
    history = [
        {
            "label": m.label,
            "from": m.from_version,
            "to": m.to_version,
            "reason": m.reason,
            "moved_at": m.moved_at.isoformat(),
        }
        for m in store.label_history(record.name)
    ]
    payload = {
        "name": record.name,
        "version": record.version,
        "labels": store.labels(record.name),
        "created_at": record.created_at.isoformat(),
        "author": record.author,
        "prompt": spec_of(record).model_dump(mode="json"),
        "diff": record.diff,
        "history": history,
    }
    moves = "\n".join(
        f"  {h['moved_at'][:19]}  {h['label']}: {h['from'] or '-'} -> {h['to']}  ({h['reason']})"
        for h in history
    )
    _emit(
        payload,
        as_json,
        f"{record.name}@{record.version}  labels: {payload['labels']}\n\n{record.diff}\n"
        f"history:\n{moves}",
    )


@prompts.command("promote")
@_promote_options
def prompts_promote(
    name: str, version: str, reason: str | None, force: bool, as_json: bool
) -> None:
    """Make VERSION (a version or a label such as `candidate`) the production version of NAME.

    Refused unless VERSION's promotion gate (`llmops eval`) passed against the current
    production version; `--force --reason TEXT` overrides, and the label history records it.
    """
    from llmops.evaluation.promotion import promotion_blocker
    from llmops.prompts.registry import PRODUCTION, promote, resolve

    if force and not (reason and reason.strip()):
        raise click.UsageError("--force needs --reason TEXT saying why the gate is overridden")
    store = synced_store()
    target = resolve(store, f"{name}@{version}").version
    before = store.label(name, PRODUCTION)
    blocker = promotion_blocker(store, name, target)
    if blocker and not force:
        raise PromotionRefusedError(
            f"promotion refused: {blocker}; override with --force --reason TEXT"
        )
    reason = reason or "promoted from the command line"
    if blocker:
        reason = f"forced past the gate ({blocker}): {reason}"
    promote(store, name, target, reason)
    payload = {
        "name": name,
        "production": target,
        "previous": before,
        "reason": reason,
        "forced": bool(blocker),
    }
    _emit(payload, as_json, f"{name}: production {before} -> {target}")


@prompts.command("rollback")
@click.argument("name")
@click.option("--reason", default="rolled back from the command line", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def prompts_rollback(name: str, reason: str, as_json: bool) -> None:
    """Move NAME's production label back to the version it had before the current one."""
    from llmops.prompts.registry import PRODUCTION, rollback

    store = synced_store()
    before = store.label(name, PRODUCTION)
    after = rollback(store, name, reason)
    payload = {"name": name, "production": after, "previous": before, "reason": reason}
    _emit(payload, as_json, f"{name}: production {before} -> {after} (rollback)")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--insecure-open",
    is_flag=True,
    help="Also serve callers without an API key (never as admins): only on a trusted network.",
)
@click.option(
    "--max-llm-calls",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Requests that may call the LLM at once; more wait for a slot.",
)
@click.option(
    "--print-openapi",
    is_flag=True,
    help="Print the OpenAPI schema and exit (the checked-in llmops/entrypoints/openapi.json).",
)
def serve(
    host: str, port: int, insecure_open: bool, max_llm_calls: int, print_openapi: bool
) -> None:
    """Serve the assistant over HTTP (FastAPI on uvicorn, one process).

    Endpoints: POST /v1/ask {question, prompt?}, POST /v1/search {query, k?}, POST /v1/feedback
    {query_id, rating, comment?}, GET /v1/queries/{id} (lineage; ?rerun=true for admins),
    GET /v1/feedback (admin export), GET /healthz, GET /readyz, GET /metrics (Prometheus, admin)
    and the schema at /openapi.json. Every /v1 request needs a key (`llmops keys create`) sent
    as `Authorization: Bearer <key>` or `X-API-Key: <key>`, unless --insecure-open. Models load
    at start-up, retried with backoff while that fails (/readyz is 503 until then); SIGTERM or
    Ctrl-C finishes the requests in flight first.
    """
    from llmops.entrypoints.service import ServiceOptions, create_app

    if print_openapi:
        click.echo(json.dumps(create_app().openapi(), indent=2, ensure_ascii=False))
        return
    import uvicorn

    options = ServiceOptions(insecure_open=insecure_open, max_llm_calls=max_llm_calls)
    uvicorn.run(
        create_app(options=options),
        host=host,
        port=port,
        timeout_graceful_shutdown=120,
        log_config=_serve_log_config(),
    )


def _serve_log_config() -> dict:
    """uvicorn's logging, with the service's own lines (start-up warnings, load retries, the
    details of every 5xx under its request id) on stderr beside uvicorn's."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["llmops"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=3000, show_default=True, help="TCP port."
)
def ui(host: str, port: int) -> None:
    """Open the Dagster UI: the webserver and the daemon (sensors, schedules, queued runs).

    Prints where the UI is and what is already materialized; the services' logs go to
    $LLMOPS_HOME/logs/dagster-ui.log. Ctrl-C stops both.
    """
    from llmops.entrypoints.ui import CodeLocationError, run_ui

    try:
        code = run_ui(Settings.from_env(), host, port, click.echo)
    except CodeLocationError as exc:
        raise RunFailedError(str(exc)) from exc
    if code:
        raise click.exceptions.Exit(code)


@cli.group()
def keys() -> None:
    """API keys of the HTTP service (`llmops serve`): every /v1 request needs one. Only a hash
    of each key is stored; the key itself is printed once, at creation."""


@keys.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Also the admin scope: any query, feedback export.")
@click.option(
    "--rate-limit",
    type=click.IntRange(1),
    default=60,
    show_default=True,
    help="Requests per minute.",
)
@click.option(
    "--daily-budget", type=click.FloatRange(0), help="USD per UTC day of LLM calls [no limit]."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def keys_create(
    name: str, admin: bool, rate_limit: int, daily_budget: float | None, as_json: bool
) -> None:
    """Create a key named NAME and print its secret (shown this once only)."""
    from llmops.entrypoints.access import mint

    key, secret = mint(name, admin, rate_limit, daily_budget)
    metadata_store().add_api_key(key)
    payload = {**payloads.api_key(key), "key": secret}
    _emit(
        payload,
        as_json,
        f"{secret}\n(key {key.id} '{key.name}', scopes {', '.join(key.scopes)}: store it now, "
        "it is not shown again)",
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def keys_list(as_json: bool) -> None:
    """Every key, revoked ones included (ids, names, prefixes; never the secrets)."""
    from llmops.entrypoints.access import CREATE_KEY_HINT

    found = [payloads.api_key(k) for k in metadata_store().api_keys()]
    rows = [
        (
            k["id"],
            f"{k['prefix']}…",
            k["name"],
            ", ".join(k["scopes"]),
            f"{k['rate_limit_per_minute']}/min",
            k["daily_budget_usd"] or "-",
            f"revoked {k['revoked_at'][:19]}" if k["revoked_at"] else "active",
        )
        for k in found
    ]
    headers = ("id", "prefix", "name", "scopes", "rate limit", "daily budget USD", "state")
    none = f"no keys: every /v1 request gets 401; {CREATE_KEY_HINT}"
    human = text_table(headers, rows) if rows else none
    _emit({"keys": found}, as_json, human)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke key KEY_ID (see `llmops keys list`): its requests get 403 from now on."""
    from resources.metadata_store import UnknownApiKeyError

    try:
        key = metadata_store().revoke_api_key(key_id)
    except UnknownApiKeyError as exc:
        raise InputError(f"{exc}: see `llmops keys list`") from exc
    _emit(payloads.api_key(key), as_json, f"revoked key {key.id} ({key.name})")


# The one-line summaries `--help` lists; click would cut the docstrings' first lines mid-phrase.
SUMMARIES = {
    "alerts": "List the alerts the sensors recorded, newest first.",
    "ask": "Answer a question from the knowledge base, with its sources.",
    "audit": "Show how one served answer was made, and re-run it.",
    "context": "List and promote context configurations.",
    "context list": "List every context configuration version with its labels.",
    "context promote": "Make a context version production, if its gate passed.",
    "drift": "Test whether two sets of questions differ in meaning.",
    "eval": "Score prompt versions on an eval set and gate candidates.",
    "evalset": "Propose and approve eval cases from thumbs-down answers.",
    "evalset approve": "Add a proposed case to the eval set with its reference answer.",
    "evalset propose": "Write thumbs-down answers as eval-case proposals.",
    "experiments": "Measure context configurations on the retrieval benchmarks.",
    "experiments list": "Compare every experiment run so far.",
    "experiments run": "Build and score context configurations on the benchmarks.",
    "experiments show": "Show one experiment and its gate against production.",
    "feedback": "Rate a served answer up or down.",
    "guard": "Run the input guardrails on a text or a batch file.",
    "ingest": "Index a docs folder into the vector store.",
    "keys": "Create, list and revoke API keys of the HTTP service.",
    "keys create": "Create an API key and print its secret once.",
    "keys list": "List every API key, never its secret.",
    "keys revoke": "Revoke an API key.",
    "prompts": "List, show, promote and roll back prompt versions.",
    "prompts list": "List every prompt version with its labels.",
    "prompts promote": "Make a prompt version production, if its gate passed.",
    "prompts rollback": "Move a prompt's production label back one version.",
    "prompts show": "Show one prompt version, its diff and label history.",
    "search": "Find the passages nearest in meaning to a text.",
    "serve": "Serve the assistant over HTTP.",
    "ui": "Open the Dagster UI with its daemon.",
}


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


for _path, _command in _commands(cli):
    _command.short_help = SUMMARIES[_path]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors become one line on stderr and exit code 2 (bad input) or 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        _require_text(args)
        cli.main(args=args, prog_name="llmops", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.ClickException, LlmopsError, MetadataStoreError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        return _fail(message, EXIT_BAD_INPUT, "--json" in args)
    except GateFailedError as exc:  # the results are already on stdout
        return _fail(str(exc), EXIT_FAILED, False)
    except RunFailedError as exc:
        return _fail(str(exc), EXIT_FAILED, "--json" in args)
    except click.Abort:
        return _fail("aborted", EXIT_FAILED, False)
    return 0


def _require_text(args: list[str]) -> None:
    """Arguments are text: bytes that are not UTF-8 (binary pasted into a shell) are bad input."""
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"argument {number} is not UTF-8 text") from exc


def _fail(message: str, code: int, as_json: bool) -> int:
    message = " ".join(message.split())
    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"llmops: error: {message}", err=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
