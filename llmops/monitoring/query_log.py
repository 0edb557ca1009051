"""What the assistant served on given days: the logged queries and their summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import numpy as np

from llmops.markdown import md_text
from llmops.monitoring.windows import DayRange
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import QueryRecord


def logged_queries(store: MetadataClient, days: DayRange) -> list[QueryRecord]:
    """Queries logged from the start of `days.start` to the end of `days.end` (UTC)."""
    since = datetime.combine(days.start, time(), tzinfo=UTC)
    until = datetime.combine(days.end + timedelta(days=1), time(), tzinfo=UTC)
    return store.queries.find(since=since, until=until)


@dataclass(frozen=True)
class QueryLogSummary:
    """Counts, latency and cost of a set of served queries."""

    queries: int
    by_status: dict[str, int]
    by_prompt_version: dict[str, int]
    latency_p50_ms: float
    latency_p95_ms: float
    tokens: int
    cost_usd: float

    def markdown(self, latest: Sequence[QueryRecord] = ()) -> str:
        """Counts per status and prompt version, and the `latest` questions as users typed
        them (escaped: a question is user text, never Markdown)."""
        lines = ["| status | queries |", "|---|---|"]
        lines += [f"| {md_text(s)} | {n} |" for s, n in sorted(self.by_status.items())]
        lines += ["", "| prompt version | queries |", "|---|---|"]
        lines += [f"| {md_text(v)} | {n} |" for v, n in sorted(self.by_prompt_version.items())]
        if latest:
            lines += ["", "Latest questions:", "", "| time (UTC) | status | question |"]
            lines.append("|---|---|---|")
            lines += [
                f"| {r.created_at:%H:%M:%S} | {md_text(r.status)} | {md_text(r.question)} |"
                for r in latest
            ]
        return "\n".join(lines)


def summarize(records: Sequence[QueryRecord]) -> QueryLogSummary:
    """Per-status and per-prompt-version counts, latency percentiles, tokens and cost."""
    latencies = np.array([r.latency_ms for r in records], dtype=float)
    return QueryLogSummary(
        queries=len(records),
        by_status=dict(Counter(r.status for r in records)),
        by_prompt_version=dict(Counter(f"{r.prompt_name}@{r.prompt_version}" for r in records)),
        latency_p50_ms=float(np.percentile(latencies, 50)) if len(records) else 0.0,
        latency_p95_ms=float(np.percentile(latencies, 95)) if len(records) else 0.0,
        tokens=sum(r.input_tokens + r.output_tokens for r in records),
        cost_usd=float(sum(r.cost_usd for r in records)),
    )
