"""Retrieval quality against an eval set's gold sources: hit@k and MRR@k, with bootstrap CIs.

Computed by hand because they are a few lines on document paths, while ragas' retrieval
metrics need an LLM or compare context texts; every mean carries a 95% bootstrap interval over
questions, so two prompt or index versions are compared with their uncertainty.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A mean over questions and its 95% percentile-bootstrap interval."""

    mean: float
    low: float
    high: float
    n: int


def hit_at_k(retrieved: Sequence[str], gold: Sequence[str], k: int) -> float:
    """1.0 when any of the first `k` retrieved documents is a gold source."""
    return float(any(doc in set(gold) for doc in retrieved[:k]))


def reciprocal_rank_at_k(retrieved: Sequence[str], gold: Sequence[str], k: int) -> float:
    """1/rank of the first gold document among the first `k` retrieved, else 0."""
    golden = set(gold)
    for rank, doc in enumerate(retrieved[:k], start=1):
        if doc in golden:
            return 1.0 / rank
    return 0.0


def bootstrap_mean(
    values: Sequence[float], resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> Estimate:
    """Mean of `values` with a percentile bootstrap interval (resampling questions)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to estimate a mean from")
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Estimate(float(data.mean()), float(low), float(high), int(data.size))
