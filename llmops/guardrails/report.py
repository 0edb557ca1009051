"""What the guardrails did: events per day and check, the block rate, the rules that fire most,
and whether today's block rate jumped against the days before (an attack wave, or a new
threshold that blocks real users)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from llmops.storage.metadata.records import GuardrailEvent

BASELINE_DAYS = 7
MIN_REQUESTS = 20  # fewer requests today: a rate is too noisy to call a jump
JUMP_FACTOR = 2.0
JUMP_POINTS = 0.10


@dataclass(frozen=True)
class DayRate:
    day: date
    requests: int
    blocked: int

    @property
    def rate(self) -> float:
        return self.blocked / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class GuardrailSummary:
    days: list[DayRate]  # oldest first, every day with requests
    triggered_by_day_check: dict[tuple[date, str], int]
    top_rules: list[tuple[str, int]]
    today: DayRate
    baseline_rate: float  # block rate over the BASELINE_DAYS before today
    baseline_requests: int

    def jump(self) -> str | None:
        """Why today's block rate counts as a jump, or None."""
        if self.today.requests < MIN_REQUESTS or self.baseline_requests == 0:
            return None
        limit = max(JUMP_FACTOR * self.baseline_rate, self.baseline_rate + JUMP_POINTS)
        if self.today.rate <= limit:
            return None
        return (
            f"block rate {self.today.rate:.0%} today ({self.today.blocked} of "
            f"{self.today.requests} questions) against {self.baseline_rate:.0%} over the "
            f"previous {BASELINE_DAYS} days (limit {limit:.0%})"
        )


def summarize(events: Sequence[GuardrailEvent], today: date) -> GuardrailSummary:
    """Per-request block decisions from the verdicts of the input and output stages."""
    requests: dict[str, date] = {}
    blocked: set[str] = set()
    per_day_check: Counter[tuple[date, str]] = Counter()
    rules: Counter[str] = Counter()
    for event in events:
        if event.query_id is None:
            continue
        day = event.created_at.date()
        requests.setdefault(event.query_id, day)
        if not event.triggered:
            continue
        per_day_check[(day, event.check)] += 1
        types = sorted({s["type"] for s in event.spans}) or [event.action]
        rules.update(f"{event.check}:{t}" for t in types)
        if event.action == "block":
            blocked.add(event.query_id)
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for query_id, day in requests.items():
        counts[day][0] += 1
        counts[day][1] += query_id in blocked
    days = [DayRate(d, n, b) for d, (n, b) in sorted(counts.items())]
    base = [d for d in days if today - timedelta(days=BASELINE_DAYS) <= d.day < today]
    base_requests = sum(d.requests for d in base)
    return GuardrailSummary(
        days=days,
        triggered_by_day_check=dict(per_day_check),
        top_rules=rules.most_common(10),
        today=next((d for d in days if d.day == today), DayRate(today, 0, 0)),
        baseline_rate=sum(d.blocked for d in base) / base_requests if base_requests else 0.0,
        baseline_requests=base_requests,
    )
