"""`llmops context` and `llmops experiments`: context configurations, measured and promoted."""

import json
import textwrap

import click

from llmops.config import Settings
from llmops.entrypoints.cli.app import (
    PromotionRefusedError,
    cli,
    emit,
    execute_job,
    promote_options,
)
from llmops.entrypoints.clients import synced_store
from llmops.entrypoints.tables import text_table
from llmops.errors import InputError


@cli.group()
def context() -> None:
    """Context configurations (`contexts/*.yaml`): chunking, embedder and retrieval settings,
    versioned by content; `production` is what `ask` and the service retrieve with."""


@context.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def context_list(as_json: bool) -> None:
    """Every registered version, newest first, with its labels."""
    store = synced_store()
    labels = store.contexts.labels()
    versions = [
        {
            "context": v.ref,
            "labels": sorted(label for label, ref in labels.items() if ref == v.ref),
            "description": v.description.strip(),
            "created_at": v.created_at.isoformat(),
        }
        for v in store.contexts.versions()
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
    emit({"versions": versions, "labels": labels}, as_json, human or "no context versions")


@context.command("promote")
@promote_options
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
    before = store.contexts.labels().get(PRODUCTION)
    blocker = promotion_blocker(Settings.from_env().reports_dir, target.ref, before)
    if blocker and not force:
        raise PromotionRefusedError(
            f"promotion refused: {blocker}; override with --force --reason TEXT"
        )
    reason = reason or "promoted from the command line"
    if blocker:
        reason = f"forced past the gate ({blocker}): {reason}"
    store.contexts.move_label(target.name, PRODUCTION, target.version, reason)
    payload = {
        "production": target.ref,
        "previous": before,
        "reason": reason,
        "forced": bool(blocker),
    }
    emit(payload, as_json, f"context: production {before} -> {target.ref}")


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
        execute_job("score_contexts", {}, target.ref)
    summaries = load_summaries(settings.reports_dir)
    table = comparison(summaries)
    ran = {t.ref for t in targets}
    payload = {
        "experiments": [s for s in summaries if s["context"] in ran],
        "comparison": table.to_dict(orient="records"),
    }
    emit(payload, as_json, comparison_markdown(table))


@experiments.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def experiments_list(as_json: bool) -> None:
    """The comparison of every experiment run so far, per benchmark."""
    from llmops.retrieval.experiments import comparison, comparison_markdown, load_summaries

    table = comparison(load_summaries(Settings.from_env().reports_dir))
    emit({"comparison": table.to_dict(orient="records")}, as_json, comparison_markdown(table))


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
    production = store.contexts.labels().get(PRODUCTION)
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
    emit(summary, as_json, "\n".join(lines) + (f"\n\n{gate}" if gate else ""))
