"""Monitoring of what users ask: the daily query log, its embeddings, and the semantic drift
report with its check (README, "Semantic drift"). Partitioned by UTC day; a drift report's
partition is the last day of its current window."""

from collections.abc import Sequence
from datetime import date
from functools import partial
from typing import Any

import dagster as dg

from assets.index import LANCEDB_WRITE_POOL, log_progress
from llmops.config import Settings
from llmops.markdown import md_text
from llmops.monitoring.check import DRIFT, NO_DRIFT, DriftCheck, run_drift_check
from llmops.monitoring.drift import EVIDENTLY_MISSING, EmergingTopic, evidently_installed
from llmops.monitoring.query_embeddings import evalset_window, query_window, sync_query_embeddings
from llmops.monitoring.query_log import logged_queries, summarize
from llmops.monitoring.windows import DayRange, DriftSettings
from llmops.retrieval.search import best_scores
from resources.embedder import Embedder
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore

DAYS = dg.DailyPartitionsDefinition(start_date="2025-01-01")
SEMANTIC_DRIFT = "semantic_drift"


def _day(context: dg.AssetExecutionContext) -> DayRange:
    day = date.fromisoformat(context.partition_key)
    return DayRange(day, day)


@dg.asset(group_name="monitoring", partitions_def=DAYS)
def query_log(
    context: dg.AssetExecutionContext, metadata_store: MetadataStore
) -> dg.MaterializeResult:
    """The questions the assistant served on one UTC day (rows of the metadata store's query
    log), with counts per status and prompt version, latency and cost."""
    records = logged_queries(metadata_store.get_client(), _day(context))
    summary = summarize(records)
    return dg.MaterializeResult(
        metadata={
            "queries": float(summary.queries),
            "latency_p50_ms": summary.latency_p50_ms,
            "latency_p95_ms": summary.latency_p95_ms,
            "tokens": float(summary.tokens),
            "cost_usd": summary.cost_usd,
            "summary": dg.MetadataValue.md(summary.markdown(records[-10:])),
        }
    )


@dg.asset(group_name="monitoring", partitions_def=DAYS, deps=[query_log], pool=LANCEDB_WRITE_POOL)
def query_embeddings(
    context: dg.AssetExecutionContext,
    metadata_store: MetadataStore,
    embedder: Embedder,
    vector_store: VectorStore,
) -> dg.MaterializeResult:
    """The day's questions as vectors in LanceDB (`queries_<model>`), encoded once per query id,
    so a drift check reads its windows instead of encoding them."""
    result = sync_query_embeddings(
        logged_queries(metadata_store.get_client(), _day(context)),
        embedder,
        vector_store,
        progress=log_progress(context.log, "encoded"),
    )
    return dg.MaterializeResult(
        metadata={
            "queries": float(result.queries),
            "embedded": float(result.embedded),
            "reused": float(result.reused),
            "embedding_model": embedder.model_id,
            "seconds": result.seconds,
        }
    )


@dg.asset(
    group_name="monitoring",
    partitions_def=DAYS,
    deps=[query_embeddings],
    pool=LANCEDB_WRITE_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            SEMANTIC_DRIFT,
            asset="embedding_drift_report",
            description="Fails (ERROR) when the current window's questions differ in meaning "
            "from the reference window; warns when a window has too few questions to test.",
        )
    ],
)
def embedding_drift_report(
    context: dg.AssetExecutionContext,
    metadata_store: MetadataStore,
    embedder: Embedder,
    vector_store: VectorStore,
) -> dg.MaterializeResult:
    """The window ending on this day against its reference (`LLMOPS_DRIFT_REFERENCE`: the
    previous window, a fixed baseline period, or the eval set's questions): the semantic
    verdict, the emerging topics with the knowledge base's coverage of each, the surface
    baseline and evidently's scores; evidently's HTML report is saved under
    `LLMOPS_HOME/reports/drift/DAY/`."""
    settings, drift = Settings.from_env(), DriftSettings.from_env()
    windows = drift.windows(date.fromisoformat(context.partition_key))
    window = partial(
        query_window,
        store=metadata_store.get_client(),
        embedder=embedder,
        vectors=vector_store,
        progress=log_progress(context.log, "encoded"),
    )
    reference = (
        evalset_window(settings.default_evalset, embedder)
        if windows.reference is None
        else window(windows.reference)
    )
    check = run_drift_check(
        windows,
        reference,
        window(windows.current),
        min_queries=drift.min_queries,
        out_dir=settings.reports_dir / "drift" / context.partition_key,
        coverage=partial(best_scores, model_id=embedder.model_id, store=vector_store)
        if vector_store.has_table(embedder.model_id)
        else None,
    )
    context.log.info(check.reason)
    return dg.MaterializeResult(metadata=_metadata(check), check_results=[_drift_check(check)])


def _metadata(check: DriftCheck) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "status": check.status,
        "current_window": str(check.windows.current),
        "reference": check.windows.describe_reference(),
        "current_queries": float(check.current_count),
        "reference_queries": float(check.reference_count),
        "explanation": dg.MetadataValue.md(  # quotes a user's question: escaped, line by line
            "\n\n".join(md_text(line, max_chars=1000) for line in check.reason.splitlines())
        ),
        "seconds": check.seconds,
    }
    if check.report is None:
        return metadata
    result, surface = check.report.result, check.report.surface
    metadata |= {
        "drift": result.drift,
        "score": result.score,
        "threshold": result.threshold,
        "p_value": result.p_value,
        "method": result.method,
        "surface_drift": surface.drift,
        "emerging_topics": float(len(check.report.topics)),
        "topics": dg.MetadataValue.md(topics_table(check.report.topics)),
        "json_report": dg.MetadataValue.path(str(check.json_path)),
    }
    if check.html_path is not None:
        metadata["html_report"] = dg.MetadataValue.path(str(check.html_path))
    if not evidently_installed():
        metadata["evidently"] = EVIDENTLY_MISSING
    if result.evidently is not None:
        ev = result.evidently
        metadata |= {
            "evidently_model_score": ev.model_score,
            "evidently_model_drift": ev.model_drift,
            "evidently_mmd_score": ev.mmd_score,
            "evidently_distance_score": ev.distance_score,
        }
    return metadata


def topics_table(topics: Sequence[EmergingTopic]) -> str:
    """The emerging topics with their most typical questions (user text, escaped)."""
    rows = [
        f"| {t.count} ({t.share:.0%}) | {'; '.join(md_text(e) for e in t.examples[:3])} | "
        f"{'n/a' if t.coverage is None else f'{t.coverage:.2f}'} |"
        for t in topics
    ]
    if not rows:
        return "no emerging topic"
    return "| queries | most typical | knowledge-base coverage |\n|---|---|---|\n" + "\n".join(rows)


def _drift_check(check: DriftCheck) -> dg.AssetCheckResult:
    """ERROR on drift (the `drift_detected` sensor acts on it), WARN when nothing was tested."""
    return dg.AssetCheckResult(
        check_name=SEMANTIC_DRIFT,
        passed=check.status == NO_DRIFT,
        severity=dg.AssetCheckSeverity.ERROR
        if check.status == DRIFT
        else dg.AssetCheckSeverity.WARN,
        description=check.reason,
        metadata={
            "status": check.status,
            "day": check.windows.current.end.isoformat(),
            "current_window": str(check.windows.current),
            **(
                {"score": check.report.result.score, "threshold": check.report.result.threshold}
                if check.report
                else {}
            ),
        },
    )
