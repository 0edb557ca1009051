"""hit@k, MRR@k and the bootstrap interval on hand-checked cases."""

import numpy as np
import pytest

from llmops.retrieval.metrics import bootstrap_mean, hit_at_k, reciprocal_rank_at_k

RETRIEVED = ["travel.md", "leave.md", "expenses.md", "leave.md"]


@pytest.mark.parametrize(
    ("gold", "k", "hit", "rr"),
    [
        (["leave.md"], 1, 0.0, 0.0),
        (["leave.md"], 2, 1.0, 0.5),
        (["expenses.md", "leave.md"], 5, 1.0, 0.5),
        (["travel.md"], 3, 1.0, 1.0),
        (["benefits.md"], 10, 0.0, 0.0),
        ([], 5, 0.0, 0.0),
    ],
)
def test_hit_and_reciprocal_rank(gold, k, hit, rr):
    assert hit_at_k(RETRIEVED, gold, k) == hit
    assert reciprocal_rank_at_k(RETRIEVED, gold, k) == rr


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_questions():
    rng = np.random.default_rng(1)
    small = bootstrap_mean(rng.binomial(1, 0.7, 30).tolist())
    large = bootstrap_mean(rng.binomial(1, 0.7, 600).tolist())
    for estimate in (small, large):
        assert estimate.low <= estimate.mean <= estimate.high
    assert (large.high - large.low) < (small.high - small.low) / 2
    assert 0.6 < large.mean < 0.8
    assert bootstrap_mean([1.0, 1.0, 1.0]) == bootstrap_mean([1.0, 1.0, 1.0])
    assert bootstrap_mean([1.0] * 5).low == 1.0


def test_bootstrap_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        bootstrap_mean([])
