"""The guardrails' own assets: the benign anchors the injection score is measured against (built
from the served knowledge base), and the monitoring of what the guardrails triggered, how many
questions they blocked, the chunks they quarantined at ingest, and a check on a sudden jump of
the block rate."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.index import LANCEDB_WRITE_POOL, chunk_embeddings, quarantine_table
from llmops.config import Settings
from llmops.evaluation.evalsets import evalset_path, load_evalset
from llmops.guardrails.anchors import (
    MARGIN,
    PERCENTILE,
    attack_vectors,
    refresh_anchors,
    served_questions,
)
from llmops.guardrails.config import load_guardrails_config
from llmops.guardrails.injection import InjectionSemanticSettings
from llmops.guardrails.report import BASELINE_DAYS, summarize
from resources.embedder import Embedder
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore

BLOCK_RATE = "block_rate_jump"
WINDOW_DAYS = 30
SERVED_DAYS = 90


@dg.asset(
    group_name="monitoring",
    check_specs=[
        dg.AssetCheckSpec(
            BLOCK_RATE,
            asset="guardrail_report",
            description=f"Fails when today's block rate is more than twice (and 10 points above) "
            f"the rate of the previous {BASELINE_DAYS} days, with at least 20 questions today.",
        )
    ],
)
def guardrail_report(
    metadata_store: MetadataStore, embedder: Embedder, vector_store: VectorStore
) -> dg.MaterializeResult:
    """Guardrail events of the last 30 days: per day and check, the block rate per day, the
    most triggered rules, and the quarantined chunks of the index."""
    now = datetime.now(UTC)
    events = metadata_store.get_client().guardrail_events.find(
        since=now - timedelta(days=WINDOW_DAYS)
    )
    summary = summarize(events, now.date())
    quarantined = vector_store.quarantined_chunks(embedder.model_id)
    checks = sorted({c for _, c in summary.triggered_by_day_check})
    by_day = "\n".join(
        f"| {d.day} | {d.requests} | {d.blocked} | {d.rate:.0%} | "
        + " | ".join(str(summary.triggered_by_day_check.get((d.day, c), 0)) for c in checks)
        + " |"
        for d in summary.days
    )
    header = "| day | questions | blocked | block rate | " + " | ".join(checks) + " |"
    jump = summary.jump()
    return dg.MaterializeResult(
        metadata={
            "questions_today": float(summary.today.requests),
            "block_rate_today": summary.today.rate,
            "block_rate_baseline": summary.baseline_rate,
            "quarantined_chunks": float(len(quarantined)),
            "by_day_and_check": dg.MetadataValue.md(
                f"{header}\n|{'---|' * (4 + len(checks))}\n{by_day}"
                if summary.days
                else "no events"
            ),
            "top_rules": dg.MetadataValue.md(
                "\n".join(f"- `{rule}`: {n}" for rule, n in summary.top_rules) or "none triggered"
            ),
            "quarantined": dg.MetadataValue.md(quarantine_table(quarantined)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=BLOCK_RATE,
                passed=jump is None,
                severity=dg.AssetCheckSeverity.ERROR,
                description=jump
                or f"block rate {summary.today.rate:.0%} today against "
                f"{summary.baseline_rate:.0%} before",
                metadata={
                    "block_rate_today": summary.today.rate,
                    "block_rate_baseline": summary.baseline_rate,
                    "questions_today": float(summary.today.requests),
                },
            )
        ],
    )


class BenignAnchorsConfig(dg.Config):
    evalset: str | None = None
    """JSONL eval set whose questions are anchors, in `LLMOPS_EVALSETS_DIR` (`evalsets/`);
    unset means `handbook.jsonl` there, skipped when it does not exist."""


@dg.asset(group_name="guardrails", pool=LANCEDB_WRITE_POOL, deps=[chunk_embeddings])
def benign_anchors(
    config: BenignAnchorsConfig,
    embedder: Embedder,
    vector_store: VectorStore,
    metadata_store: MetadataStore,
) -> dg.MaterializeResult:
    """The benign side of the `injection_semantic` score, from this deployment: the indexed
    chunks, their headings, the eval set's questions and the questions served unflagged in
    the last 90 days, in LanceDB beside the attack table; and the threshold calibrated on
    them (99th percentile of their held-out scores plus a margin). Rebuilt after every
    reindex; `llmops.guardrails.anchors` says how."""
    evalset = evalset_path(config.evalset, Settings.from_env().evalsets_dir)
    questions = [c.question for c in load_evalset(evalset)] if evalset.is_file() else []
    served = served_questions(
        metadata_store.get_client().queries.find(
            since=datetime.now(UTC) - timedelta(days=SERVED_DAYS)
        )
    )
    semantic = next(
        (s for s in load_guardrails_config().input if isinstance(s, InjectionSemanticSettings)),
        None,
    )
    attacks = attack_vectors(semantic, embedder, vector_store)
    refreshed = refresh_anchors(vector_store, embedder, attacks, questions, served)
    if refreshed is None:
        return dg.MaterializeResult(
            metadata={"anchors": 0.0, "benign": "shipped references (nothing indexed or asked)"}
        )
    calibration = refreshed.calibration
    return dg.MaterializeResult(
        metadata={
            "anchors": float(sum(refreshed.counts.values())),
            **{f"anchors_{s}": float(n) for s, n in refreshed.counts.items()},
            "threshold": calibration.threshold,
            "threshold_rule": f"p{PERCENTILE:g} of {calibration.scored} held-out "
            f"{calibration.scored_source} + {MARGIN}",
            "held_out_p99": calibration.percentile_score,
            "known_attacks_at_threshold": calibration.attack_detection,
            "evalset": str(evalset) if questions else "none",
            "table_version": float(refreshed.table_version),
        }
    )
