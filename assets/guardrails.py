"""Monitoring of the guardrails: what they triggered, how many questions they blocked, the
chunks they quarantined at ingest, and a check on a sudden jump of the block rate."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.index import quarantine_table
from llmops.guardrails.report import BASELINE_DAYS, summarize
from resources.embedder import Embedder
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore

BLOCK_RATE = "block_rate_jump"
WINDOW_DAYS = 30


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
    events = metadata_store.guardrail_events(since=now - timedelta(days=WINDOW_DAYS))
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
