"""Semantic drift: paraphrases are not drift, a new topic is, and the report says which topic.

Runs on the labelled windows of `tests/drift_data.py` with the real MiniLM embedder; every text
is encoded once per session. Rates over many seeds are the job of `bench/drift.py`; these tests
pin single seeded windows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from llmops.monitoring.drift import (
    DriftReport,
    detect_drift,
    drift_report,
    emerging_topics,
    surface_baseline,
    words,
)
from tests.support import drift_data

SEED = 7
SIZE = 300

TRIALS = {
    "none": drift_data.sample_trial("none", SEED, size=SIZE),
    "paraphrase": drift_data.sample_trial("paraphrase", SEED, size=SIZE),
    "new30": drift_data.sample_trial("new", SEED, size=SIZE, share=0.3, new_topic="company-shares"),
}
# A tiny knowledge base: one line per reference subject (the handbook covers those, not the rest).
KNOWLEDGE_BASE = [
    f"Handbook policy on {subject}."
    for pairs in drift_data.REFERENCE_TOPICS.values()
    for subject, _ in pairs
]


@pytest.fixture(scope="session")
def vectors(embedder) -> dict[str, np.ndarray]:
    """Every text the tests use, encoded once."""
    texts = sorted(
        {q.text for t in TRIALS.values() for q in t.reference + t.current} | set(KNOWLEDGE_BASE)
    )
    return dict(zip(texts, embedder.encode(texts), strict=True))


def _encode(vectors: dict[str, np.ndarray]):
    return lambda texts: np.stack([vectors[t] for t in texts])


def _windows(name: str, vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    trial = TRIALS[name]
    encode = _encode(vectors)
    return encode([q.text for q in trial.reference]), encode([q.text for q in trial.current])


def _texts(name: str) -> tuple[list[str], list[str]]:
    trial = TRIALS[name]
    return [q.text for q in trial.reference], [q.text for q in trial.current]


def test_no_drift_window_passes(vectors):
    ref, cur = _windows("none", vectors)
    result = detect_drift(ref, cur)
    assert not result.drift
    assert result.score <= result.threshold
    assert not surface_baseline(*_texts("none")).drift


def test_paraphrases_are_not_drift_but_look_different(vectors):
    """Same meanings in other words: the semantic test stays quiet, the surface one fires."""
    ref, cur = _windows("paraphrase", vectors)
    result = detect_drift(ref, cur)
    surface = surface_baseline(*_texts("paraphrase"))
    assert not result.drift, result
    assert surface.drift
    assert surface.length.current_mean > surface.length.reference_mean


def test_new_topic_is_drift_although_it_looks_the_same(vectors):
    """30 % questions about company shares, same templates: semantic fires, surface does not."""
    ref, cur = _windows("new30", vectors)
    result = detect_drift(ref, cur)
    surface = surface_baseline(*_texts("new30"))
    assert result.drift
    assert result.score > result.threshold
    assert result.p_value <= 0.05
    assert not surface.drift, surface
    assert abs(surface.word_count.current_mean - surface.word_count.reference_mean) < 1.0


def test_the_texts_that_drove_the_verdict_are_the_injected_ones(vectors):
    """The witness names the new-topic texts: most of them, and few others."""
    ref, cur = _windows("new30", vectors)
    result = detect_drift(ref, cur, with_evidently=False)
    injected = np.array([q.kind == "new" for q in TRIALS["new30"].current])
    novel = np.zeros(len(cur), bool)
    novel[result.novel] = True
    assert injected[novel].mean() >= 0.8
    assert novel[injected].mean() >= 0.5


def test_false_alarms_stay_near_alpha_on_exchangeable_windows():
    """Both windows from one distribution: the permutation threshold flags about alpha of them."""
    rng = np.random.default_rng(0)
    flagged = 0
    for seed in range(40):
        x = rng.normal(size=(120, 16)).astype(np.float32)
        result = detect_drift(x[:60], x[60:], seed=seed, permutations=99, with_evidently=False)
        assert 0.0 < result.p_value <= 1.0
        flagged += result.drift
    assert flagged <= 6  # expected 2 at alpha 0.05; P(≥ 7 | 40, 0.05) < 0.001


def test_evidently_scores_are_reported_beside_ours(vectors):
    ref, cur = _windows("new30", vectors)
    ev = detect_drift(ref, cur).evidently
    assert ev is not None
    assert 0.5 < ev.model_score <= 1.0  # a 30 % shift is visible to its classifier too
    assert ev.distance_score > 0


def test_emerging_topics_are_the_injected_queries(vectors):
    ref, cur = _windows("new30", vectors)
    trial = TRIALS["new30"]
    injected = {q.text for q in trial.current if q.kind == "new"}
    topics = emerging_topics(ref, cur, [q.text for q in trial.current])
    assert topics
    examples = [e for t in topics for e in t.examples]
    assert sum(e in injected for e in examples) / len(examples) >= 0.9
    found = sum(t.share for t in topics)
    assert 0.15 <= found <= 0.45  # about the injected 30 %


def test_no_emerging_topics_without_drift(vectors):
    ref, cur = _windows("none", vectors)
    assert emerging_topics(ref, cur, _texts("none")[1]) == []


def test_drift_report_explains_with_coverage(vectors):
    encode = _encode(vectors)
    kb = encode(KNOWLEDGE_BASE)

    def coverage(queries: np.ndarray) -> list[float]:
        return (queries @ kb.T).max(axis=1).tolist()

    reference, current = _texts("new30")
    report = drift_report(reference, current, encode, coverage=coverage)
    assert isinstance(report, DriftReport)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["drift"] is True
    assert {"score", "threshold", "method", "explanation", "surface", "evidently"} <= set(data)
    topics = data["explanation"]["emerging_topics"]
    assert topics
    assert "company shares" in topics[0]["examples"][0]
    # the handbook covers the reference questions better than the emerging topic
    typical_reference = float(np.median(coverage(encode(reference))))
    assert topics[0]["coverage"] < typical_reference


def test_surface_out_of_vocabulary_share():
    ref = ["how do I book leave", "how do I claim expenses"]
    result = surface_baseline(ref * 20, ["how do I get a visa"] * 40)
    assert result.oov_share.current_mean == pytest.approx(3 / 6)
    assert result.oov_share.reference_mean == 0.0
    assert result.drift
    assert words("Can't I use the VPN?") == ["can't", "i", "use", "the", "vpn"]


def test_bad_windows_are_refused():
    one = np.ones((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="at least two"):
        detect_drift(one, np.ones((5, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="differ in length"):
        emerging_topics(np.eye(4), np.eye(4), ["a", "b"])
