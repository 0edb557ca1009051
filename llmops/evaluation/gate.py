"""The promotion gate: is a candidate worse than production beyond noise, question by question?

Both versions answer the same questions, so the comparison is paired: for every primary metric
the per-question differences (candidate − production) are resampled over questions, and the
candidate fails when the whole 95% interval of the mean difference lies below `-margin`. An
equal candidate (all differences 0) and a noisy tie (an interval straddling 0) pass. Written by
hand because it is a few lines of numpy, and no library we use pairs two eval runs this way.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from llmops.retrieval.metrics import bootstrap_mean

PRIMARY_METRICS = ("hit@5", "mrr@5", "semantic_similarity", "groundedness", "abstention_accuracy")


@dataclass(frozen=True)
class MetricComparison:
    """Candidate against production on one metric, over the questions both have a score for."""

    metric: str
    n: int
    candidate: float
    production: float
    difference: float
    ci_low: float
    ci_high: float
    worse: bool


@dataclass(frozen=True)
class GateResult:
    passed: bool
    comparisons: tuple[MetricComparison, ...]
    baseline: str

    @property
    def failed_metrics(self) -> list[str]:
        return [c.metric for c in self.comparisons if c.worse]

    def details(self) -> list[dict]:
        return [asdict(c) for c in self.comparisons]

    def markdown(self) -> str:
        rows = [
            f"| {c.metric} | {c.candidate:.3f} | {c.production:.3f} | {c.difference:+.3f} "
            f"| [{c.ci_low:+.3f}, {c.ci_high:+.3f}] | {c.n} | {'**worse**' if c.worse else 'ok'} |"
            for c in self.comparisons
        ]
        verdict = "passed" if self.passed else f"failed on {', '.join(self.failed_metrics)}"
        return (
            f"Gate against production `{self.baseline}`: **{verdict}**\n\n"
            "| metric | candidate | production | Δ | 95% CI of Δ | n | |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(rows)
        )


def paired_difference(
    candidate: Sequence[float],
    production: Sequence[float],
    resamples: int = 4000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Mean of the paired differences and its percentile-bootstrap interval."""
    if len(candidate) != len(production):
        raise ValueError("candidate and production need one score per question each")
    diffs = np.asarray(candidate, dtype=float) - np.asarray(production, dtype=float)
    if diffs.size == 0:
        raise ValueError("no paired scores to compare")
    estimate = bootstrap_mean(diffs.tolist(), resamples, seed, confidence)
    return estimate.mean, estimate.low, estimate.high


def compare(
    candidate: Mapping[str, Mapping[str, float]],
    production: Mapping[str, Mapping[str, float]],
    baseline: str,
    metrics: Sequence[str] = PRIMARY_METRICS,
    margin: float = 0.0,
) -> GateResult:
    """Gate `candidate` against `production`: per metric, {question id: score} (NaN = no score).

    A metric neither side scored is skipped; one question scored on one side only is left out
    of that metric's pairs.
    """
    comparisons = []
    for metric in metrics:
        cand, prod = candidate.get(metric, {}), production.get(metric, {})
        ids = sorted(
            q for q in set(cand) & set(prod) if np.isfinite(cand[q]) and np.isfinite(prod[q])
        )
        if not ids:
            continue
        c = [cand[q] for q in ids]
        p = [prod[q] for q in ids]
        diff, low, high = paired_difference(c, p)
        comparisons.append(
            MetricComparison(
                metric=metric,
                n=len(ids),
                candidate=float(np.mean(c)),
                production=float(np.mean(p)),
                difference=diff,
                ci_low=low,
                ci_high=high,
                worse=high < -margin,
            )
        )
    return GateResult(
        passed=not any(c.worse for c in comparisons),
        comparisons=tuple(comparisons),
        baseline=baseline,
    )
