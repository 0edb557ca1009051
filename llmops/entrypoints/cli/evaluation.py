"""`llmops eval` and `llmops evalset`: score prompt versions, turn feedback into eval cases."""

from pathlib import Path

import click

from llmops.config import Settings
from llmops.entrypoints.cli.app import GateFailedError, cli, emit, execute_job
from llmops.entrypoints.clients import index_clients, production_context, synced_store
from llmops.errors import InputError


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
        run = execute_job(
            "evaluate",
            {"ops": {"eval_dataset": {"config": {"evalset": str(path)}}}},
            key,
            checks_may_fail=True,
        )
        record = next(
            e for e in store.evaluations.find(target.name, target.version) if e.run_id == run.run_id
        )
        results.append(_evaluation_json(record))
    payload = {"evalset": str(path), "results": results}
    emit(payload, as_json, "\n\n".join(_evaluation_text(r) for r in results))
    if check and any(r["gate"]["passed"] is False for r in results):
        raise GateFailedError("a candidate failed the promotion gate")


def _eval_targets(store, ref: str) -> list:
    """NAME alone means its production and (if different) candidate version, production first."""
    from llmops.prompts.registry import CANDIDATE, PRODUCTION, resolve

    if "@" in ref:
        return [resolve(store, ref)]
    production = resolve(store, f"{ref}@{PRODUCTION}")
    candidate = store.prompts.label(ref, CANDIDATE)
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


@cli.group()
def evalset() -> None:
    """Eval cases proposed from thumbs-down feedback: propose them, approve them."""


@evalset.command("propose")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def evalset_propose(as_json: bool) -> None:
    """Write every thumbs-down answer not yet proposed to $LLMOPS_EVALSETS_DIR/candidates/
    (the `feedback_eval_candidates` asset, run through Dagster)."""
    result = execute_job("propose_eval_cases", {})
    meta = result.asset_materializations_for_node("feedback_eval_candidates")[0].metadata
    folder = Settings.from_env().candidates_dir
    pending = sorted(p.stem for p in folder.glob("*.json"))
    payload = {"new": int(meta["new"].value), "pending": pending, "folder": str(folder)}
    emit(
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
    emit(payload, as_json, f"added {case.id} to {target}")
