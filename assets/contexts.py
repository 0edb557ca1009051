"""Context stage: versioned context configurations and their retrieval experiments."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from assets.index import LANCEDB_WRITE_POOL
from llmops.config import Settings
from llmops.errors import InputError
from llmops.evaluation.evalsets import evalset_path
from llmops.prompts.registry import PRODUCTION
from llmops.retrieval.context_registry import register, resolve
from llmops.retrieval.contexts import load_context_files
from llmops.retrieval.experiments import (
    Benchmark,
    comparison,
    comparison_markdown,
    default_benchmarks,
    gate_context,
    load_summaries,
    run_experiment,
)
from resources.embedder import Embedder
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore

CONTEXT_VERSIONS = dg.DynamicPartitionsDefinition(name="context_versions")
"""One partition per registered context configuration version, keyed `NAME@VERSION`."""


class ContextsConfig(dg.Config):
    contexts_dir: str | None = None
    """Folder of context files; unset means `LLMOPS_CONTEXTS_DIR` (default `contexts/`)."""


@dg.asset(group_name="context")
def context_versions(
    context: dg.AssetExecutionContext, config: ContextsConfig, metadata_store: MetadataStore
) -> dg.MaterializeResult:
    """The context registry: new file contents become versions (the first `production`, later
    ones `candidate`); `production` moves only through `llmops context promote`."""
    folder = Path(config.contexts_dir) if config.contexts_dir else Settings.from_env().contexts_dir
    files = load_context_files(folder)
    store = metadata_store.get_client()
    added = register(files, store)
    versions = store.contexts.versions()
    context.instance.add_dynamic_partitions(CONTEXT_VERSIONS.name, [v.ref for v in versions])
    labels = store.contexts.labels()
    return dg.MaterializeResult(
        metadata={
            "configurations": float(len(files)),
            "versions": float(len(versions)),
            "added": [v.ref for v in added],
            "labels": dg.MetadataValue.json(labels),
        }
    )


class BenchmarkConfig(dg.Config):
    name: str
    docs_dir: str
    evalset: str
    """JSONL eval set in `LLMOPS_EVALSETS_DIR`: a file name or a path inside it."""
    corpus: str | None = None


class ExperimentConfig(dg.Config):
    benchmarks: list[BenchmarkConfig] = Field(default_factory=list)
    """Benchmarks to score on; empty means the handbook eval set and pydocs (if built)."""


@dg.asset(
    group_name="context",
    partitions_def=CONTEXT_VERSIONS,
    deps=[context_versions],
    pool=LANCEDB_WRITE_POOL,
)
def context_experiments(
    context: dg.AssetExecutionContext,
    config: ExperimentConfig,
    embedder: Embedder,
    vector_store: VectorStore,
    metadata_store: MetadataStore,
) -> dg.MaterializeResult:
    """One context configuration version built (or reused) and scored on every benchmark:
    hit@1/hit@5/MRR@5 with 95% intervals, latency p50/p95, index size and build time; the
    comparison with every earlier experiment marks the Pareto-optimal configurations, and a
    version other than production is gated against it."""
    settings = Settings.from_env()
    store = metadata_store.get_client()
    record = resolve(store, context.partition_key)
    benchmarks = [
        Benchmark(
            b.name, Path(b.docs_dir), evalset_path(b.evalset, settings.evalsets_dir), b.corpus
        )
        for b in config.benchmarks
    ] or default_benchmarks(settings)
    experiment = run_experiment(
        record, benchmarks, embedder, vector_store, settings.reports_dir, context.log.info
    )
    for reason in experiment.skipped:
        context.log.warning(f"benchmark skipped: {reason}")
    table = comparison(load_summaries(settings.reports_dir))
    comparison_path = settings.reports_dir / "experiments" / "comparison.parquet"
    table.to_parquet(comparison_path, index=False)
    production = store.contexts.labels().get(PRODUCTION)
    gate = "this is the production configuration"
    if production and production != record.ref:
        try:
            gate = gate_context(settings.reports_dir, record.ref, production).markdown()
        except InputError as exc:  # production was never scored: no gate yet
            gate = str(exc)
    metadata: dict[str, dg.RawMetadataValue] = {
        "comparison": dg.MetadataValue.md(comparison_markdown(table)),
        "comparison_parquet": dg.MetadataValue.path(str(comparison_path)),
        "gate": dg.MetadataValue.md(gate),
        "skipped": experiment.skipped,
    }
    for score in experiment.scores:
        name = score.benchmark
        metadata[f"{name}/hit@5"] = score.hit_at_5[0]
        metadata[f"{name}/hit@5_ci"] = f"[{score.hit_at_5[1]:.3f}, {score.hit_at_5[2]:.3f}]"
        metadata[f"{name}/mrr@5"] = score.mrr_at_5[0]
        metadata[f"{name}/latency_p95_ms"] = score.latency_p95_ms
        metadata[f"{name}/index_mb"] = round(score.index.size_bytes / 1e6, 3)
        metadata[f"{name}/build_seconds"] = score.index.build_seconds
        metadata[f"{name}/embedded"] = float(score.index.embedded)
    return dg.MaterializeResult(metadata=metadata)
