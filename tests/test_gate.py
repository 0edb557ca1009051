"""The promotion gate on constructed per-question scores: worse fails, equal/tie/better pass."""

import math

import numpy as np
import pytest

from llmops.evaluation.gate import compare, paired_difference

N = 40
IDS = [f"q{i:02d}" for i in range(N)]


def _scores(values) -> dict[str, float]:
    return {q: float(v) for q, v in zip(IDS, values, strict=True)}


def _production() -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(7)
    return {
        "semantic_similarity": _scores(rng.uniform(0.6, 0.9, N)),
        "abstention_accuracy": _scores([1.0] * N),
        "hit@5": _scores(rng.binomial(1, 0.8, N)),
    }


def _by_metric(result):
    return {c.metric: c for c in result.comparisons}


def test_a_clearly_worse_similarity_fails():
    production = _production()
    candidate = {m: dict(s) for m, s in production.items()}
    # 0.3 lower on 35 of the 40 questions, unchanged on the rest.
    candidate["semantic_similarity"] = {
        q: s - 0.3 if i < 35 else s
        for i, (q, s) in enumerate(production["semantic_similarity"].items())
    }
    result = compare(candidate, production, baseline="v1")
    assert result.passed is False
    assert result.failed_metrics == ["semantic_similarity"]
    sim = _by_metric(result)["semantic_similarity"]
    assert sim.n == N
    assert sim.difference == pytest.approx(-0.3 * 35 / N)
    assert sim.ci_high < 0
    assert sim.ci_low <= sim.difference <= sim.ci_high
    assert sim.candidate == pytest.approx(sim.production - 0.3 * 35 / N)


def test_abstention_dropping_from_one_to_zero_on_many_questions_fails():
    production = _production()
    candidate = {m: dict(s) for m, s in production.items()}
    candidate["abstention_accuracy"] = _scores([0.0] * 15 + [1.0] * 25)
    result = compare(candidate, production, baseline="v1")
    assert result.passed is False
    assert result.failed_metrics == ["abstention_accuracy"]
    abst = _by_metric(result)["abstention_accuracy"]
    assert abst.production == 1.0
    assert abst.candidate == pytest.approx(25 / 40)
    assert abst.difference == pytest.approx(-15 / 40)
    assert abst.ci_high < 0


def test_an_identical_candidate_passes_with_zero_difference():
    production = _production()
    candidate = {m: dict(s) for m, s in production.items()}
    result = compare(candidate, production, baseline="v1")
    assert result.passed is True
    assert result.failed_metrics == []
    assert [c.metric for c in result.comparisons] == [
        "hit@5",
        "semantic_similarity",
        "abstention_accuracy",
    ]
    for c in result.comparisons:
        assert c.n == N
        assert c.difference == 0.0
        assert (c.ci_low, c.ci_high) == (0.0, 0.0)
        assert c.worse is False


def test_a_noisy_tie_passes():
    production = _production()
    rng = np.random.default_rng(3)
    noise = rng.normal(0.0, 0.1, N)
    noise -= noise.mean()  # exactly zero-mean: a tie up to the noise
    candidate = {m: dict(s) for m, s in production.items()}
    candidate["semantic_similarity"] = {
        q: s + e for (q, s), e in zip(production["semantic_similarity"].items(), noise, strict=True)
    }
    result = compare(candidate, production, baseline="v1")
    sim = _by_metric(result)["semantic_similarity"]
    assert sim.difference == pytest.approx(0.0, abs=1e-12)
    assert sim.ci_low < 0 < sim.ci_high
    assert sim.worse is False
    assert result.passed is True


def test_a_clearly_better_candidate_passes():
    production = _production()
    candidate = {m: dict(s) for m, s in production.items()}
    candidate["semantic_similarity"] = {
        q: s + 0.08 for q, s in production["semantic_similarity"].items()
    }
    candidate["hit@5"] = _scores([1.0] * N)
    result = compare(candidate, production, baseline="v1")
    assert result.passed is True
    assert result.failed_metrics == []
    sim = _by_metric(result)["semantic_similarity"]
    assert sim.difference == pytest.approx(0.08)
    assert sim.ci_low > 0
    assert _by_metric(result)["hit@5"].difference > 0


def test_the_margin_tolerates_a_small_consistent_drop():
    production = _production()
    candidate = {m: dict(s) for m, s in production.items()}
    candidate["semantic_similarity"] = {
        q: s - 0.02 for q, s in production["semantic_similarity"].items()
    }
    assert compare(candidate, production, "v1").failed_metrics == ["semantic_similarity"]
    assert compare(candidate, production, "v1", margin=0.05).passed is True


def test_unpaired_and_nan_questions_are_left_out_and_missing_metrics_skipped():
    production = {
        "semantic_similarity": {"a": 0.8, "b": 0.6, "c": 0.7, "d": 0.9, "p_only": 0.0},
        "groundedness": {"a": 1.0},
    }
    candidate = {
        "semantic_similarity": {"a": 0.7, "b": math.nan, "c": 0.5, "d": 0.8, "c_only": 0.0},
        "hit@5": {"a": 1.0},
    }
    result = compare(
        candidate,
        production,
        baseline="v1",
        metrics=("semantic_similarity", "groundedness", "hit@5", "mrr@5"),
    )
    # groundedness / hit@5 are scored on one side only, mrr@5 on neither: all skipped.
    assert [c.metric for c in result.comparisons] == ["semantic_similarity"]
    sim = result.comparisons[0]
    assert sim.n == 3  # a, c, d: b is NaN on one side, p_only / c_only are unpaired
    assert sim.candidate == pytest.approx((0.7 + 0.5 + 0.8) / 3)
    assert sim.production == pytest.approx((0.8 + 0.7 + 0.9) / 3)
    assert sim.difference == pytest.approx(-0.4 / 3)


def test_no_shared_metric_at_all_passes_with_no_comparisons():
    result = compare({"hit@5": {"a": 1.0}}, {"mrr@5": {"a": 1.0}}, baseline="v1")
    assert result.comparisons == ()
    assert result.passed is True


def test_paired_difference_hand_checked():
    mean, low, high = paired_difference([0.0, 0.25, 0.5], [0.5, 0.75, 1.0])
    assert mean == pytest.approx(-0.5)
    assert low == pytest.approx(-0.5)
    assert high == pytest.approx(-0.5)

    mean, low, high = paired_difference([1.0, 0.0], [0.0, 0.0], resamples=2000)
    assert mean == pytest.approx(0.5)
    # Two differences {1, 0}: resampled means are 0, 0.5 or 1, so the 95% interval is [0, 1].
    assert (low, high) == (pytest.approx(0.0), pytest.approx(1.0))


def test_paired_difference_interval_has_the_width_of_a_95_percent_interval():
    # 20 differences of -1 and 20 of 0: mean -0.5, standard error 0.5 / sqrt(40) ≈ 0.079, so a
    # 95% interval is about ±1.96 · 0.079 ≈ ±0.155 wide (a 99% one would be ±0.204).
    diffs = [-1.0] * 20 + [0.0] * 20
    mean, low, high = paired_difference(diffs, [0.0] * 40)
    assert mean == pytest.approx(-0.5)
    assert 0.13 < mean - low < 0.18
    assert 0.13 < high - mean < 0.18
    _, low99, high99 = paired_difference(diffs, [0.0] * 40, confidence=0.99)
    assert low99 < low
    assert high99 > high


def test_paired_difference_is_reproducible_for_a_seed():
    rng = np.random.default_rng(11)
    cand, prod = rng.uniform(size=30), rng.uniform(size=30)
    assert paired_difference(cand, prod, seed=5) == paired_difference(cand, prod, seed=5)


def test_paired_difference_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no paired scores"):
        paired_difference([], [])


def test_markdown_has_the_metric_rows_and_the_verdict():
    production = _production()
    candidate = {m: dict(s) for m, s in production.items()}
    candidate["abstention_accuracy"] = _scores([0.0] * 20 + [1.0] * 20)
    failed = compare(candidate, production, baseline="v3").markdown()
    assert "Gate against production `v3`: **failed on abstention_accuracy**" in failed
    assert "| abstention_accuracy | 0.500 | 1.000 | -0.500 |" in failed
    assert "| **worse** |" in failed
    assert "| semantic_similarity |" in failed

    passed = compare(production, production, baseline="v3").markdown()
    assert "**passed**" in passed
    assert "**worse**" not in passed
    assert "| abstention_accuracy | 1.000 | 1.000 | +0.000 | [+0.000, +0.000] | 40 | ok |" in passed
