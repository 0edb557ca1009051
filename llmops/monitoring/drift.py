"""Semantic drift of what users ask: a calibrated test, a surface baseline, and emerging topics.

Pure functions on arrays and texts (no Dagster, no I/O). Embeddings are unit vectors (the
`Embedder` output); `encode` callables turn texts into such vectors.

Why not evidently's default alone, nor the k-nearest-neighbour purity test shipped before:
on held-out real trials (`bench/drift.py`: man pages, the Python library reference and Django's
docs, a share of the current window from topics absent in the reference), new topics are
*diffuse*: their texts spread among the reference's instead of forming a tight cluster, so a
test that waits for current-only neighbourhoods never fires at a 10 % share, and evidently's
single-split classifier and its MMD and distance defaults detect little more.

Our test is a kernel two-sample test: MMD² between the windows with a Gaussian kernel whose width
is a multiple of the median distance between texts (the multiple chosen on the bench's `dev`
trials, among four; a wider kernel also leaves paraphrases of reference questions alone, which
move each text a little, while a topic moves mass to where the reference has little). The
threshold comes from seeded label permutations of the pooled windows, so false alarms are held
at alpha by construction; all permutations are scored with one matrix product on a kernel
matrix built once. Its witness function (mean kernel similarity to the current window minus to
the reference) names the current texts that drove the verdict; the emerging topics are
clusters of those texts only. evidently's own verdicts (default model-based method, MMD,
centroid distance) are computed on the same windows and reported beside ours.
"""

from __future__ import annotations

import importlib.util
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import numpy as np

DEFAULT_BANDWIDTH = 1.0  # Gaussian kernel width, × the median pooled distance (chosen on dev)
DEFAULT_PERMUTATIONS = 200
DEFAULT_ALPHA = 0.05
DEFAULT_TAIL = 0.95  # a current text drove the verdict beyond this quantile of reference witness
MIN_DRIFT_TEXTS = 2  # per window: fewer leaves nothing to compare
MAX_PER_WINDOW = 3000  # texts per window used by the test; larger windows are subsampled
MAX_EVIDENTLY_PER_WINDOW = 1000  # evidently's MMD builds an (m + n)² kernel
MAX_EVIDENTLY_HTML_PER_WINDOW = 250  # the HTML report's t-SNE plot
METHOD = "mmd-permutation"

_WORD = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*")


# --------------------------------------------------------------------------------------------
# Semantic drift test
# --------------------------------------------------------------------------------------------


@dataclass
class EvidentlyScores:
    """evidently 0.7's embedding-drift methods at their defaults, on the same (sub)windows."""

    model_score: float  # ROC AUC of its SGD classifier
    model_drift: bool  # its default verdict (bootstrap threshold under 1,000 reference rows)
    mmd_score: float
    mmd_drift: bool
    distance_score: float  # euclidean distance of the centroids
    distance_drift: bool
    seconds: float


@dataclass
class DriftResult:
    """Verdict of the calibrated semantic test, with evidently's scores beside it."""

    drift: bool
    score: float  # MMD² between the windows (Gaussian kernel, biased estimate)
    threshold: float  # (1 - alpha) quantile of `score` under label permutation
    p_value: float
    method: str
    auc: float  # ROC AUC of the MMD witness, current vs reference texts (global effect size)
    reference_size: int  # texts used after subsampling
    current_size: int
    seconds: float
    evidently: EvidentlyScores | None = None
    novel: list[int] = field(default_factory=list, repr=False)  # current rows that drove it
    cutoff: float = 0.0  # witness beyond which a current text drove the verdict


def _subsample_rows(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, limit, replace=False))


def _subsample(x: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    return x[_subsample_rows(len(x), limit, rng)]


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


EVIDENTLY_MISSING = (
    "evidently is not installed, so its scores and HTML report are left out: "
    "pip install 'llmops[drift-reports]'"
)


@cache
def evidently_installed() -> bool:
    """Whether the `drift-reports` extra is there: the verdict is ours either way, evidently's
    scores and report only sit beside it."""
    return importlib.util.find_spec("evidently") is not None


def evidently_scores(reference: np.ndarray, current: np.ndarray) -> EvidentlyScores:
    """evidently's model, MMD and distance methods, each at evidently's defaults.

    The default model method is what `EmbeddingsDrift` uses without a `drift_method`:
    `model(bootstrap=reference rows < 1000)`. The methods are called directly (the public objects
    re-exported by `evidently.metrics.embeddings`) to skip the report's t-SNE plot.
    """
    import pandas as pd
    from evidently.metrics.embeddings import DistanceDriftMethod, MMDDriftMethod, ModelDriftMethod

    started = time.perf_counter()
    ref, cur = pd.DataFrame(reference), pd.DataFrame(current)
    model = ModelDriftMethod(bootstrap=len(ref) < 1000)
    m_score, m_drift, _ = model(cur.copy(), ref.copy())
    d_score, d_drift, _ = MMDDriftMethod()(cur, ref)
    c_score, c_drift, _ = DistanceDriftMethod()(cur, ref)
    return EvidentlyScores(
        model_score=float(m_score),
        model_drift=bool(m_drift),
        mmd_score=float(d_score),
        mmd_drift=bool(d_drift),
        distance_score=float(c_score),
        distance_drift=bool(c_drift),
        seconds=time.perf_counter() - started,
    )


def gaussian_kernel(points: np.ndarray, bandwidth: float, rng: np.random.Generator) -> np.ndarray:
    """exp(−‖x − y‖² / 2σ²) over unit vectors, σ = `bandwidth` × the median pooled distance
    (estimated on at most 200,000 seeded pairs)."""
    sq = points @ points.T
    np.multiply(sq, -2.0, out=sq)
    np.add(sq, 2.0, out=sq)
    np.maximum(sq, 0.0, out=sq)
    n = len(points)
    pairs = min(200_000, n * (n - 1) // 2)
    i, j = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    keep = i != j
    width = bandwidth * float(np.sqrt(np.median(sq[i[keep], j[keep]])))
    np.multiply(sq, -1.0 / (2.0 * max(width, 1e-6) ** 2), out=sq)
    return np.exp(sq, out=sq)


def detect_drift(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    bandwidth: float = DEFAULT_BANDWIDTH,
    permutations: int = DEFAULT_PERMUTATIONS,
    alpha: float = DEFAULT_ALPHA,
    max_per_window: int = MAX_PER_WINDOW,
    seed: int = 0,
    with_evidently: bool = True,
) -> DriftResult:
    """Is the current window's meaning distribution different from the reference's?

    Maximum mean discrepancy (MMD², biased estimate) between the windows with a Gaussian kernel
    on the unit vectors, its width `bandwidth` × the median distance between pooled texts. Its
    threshold is the (1 − alpha) quantile of the same statistic over `permutations` seeded label
    shuffles of the pooled windows, so false alarms are held at alpha by construction. The
    kernel matrix is built once; all shuffles are scored with one matrix product. Windows above
    `max_per_window` are subsampled (seeded).

    The texts that drove the verdict are the current texts where the MMD witness (mean kernel
    similarity to the current window minus to the reference, each text left out of its own
    window) exceeds the reference texts' own `DEFAULT_TAIL` quantile: texts in regions of
    meaning the current window fills more than the reference does.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    ref = _subsample(_normalise(reference), max_per_window, rng)
    current = _normalise(current)
    cur_rows = _subsample_rows(len(current), max_per_window, rng)
    cur = current[cur_rows]
    if min(len(ref), len(cur)) < MIN_DRIFT_TEXTS:
        raise ValueError("each window needs at least two texts")
    n, m = len(ref), len(cur)
    kernel = gaussian_kernel(np.vstack([ref, cur]), bandwidth, rng)
    labels = np.r_[np.ones(n, np.float32), np.zeros(m, np.float32)]  # 1: reference
    columns = [labels] + [rng.permutation(labels) for _ in range(permutations)]
    signs = np.stack(columns, axis=1)
    weights = signs / n - (1 - signs) / m  # MMD² = wᵀ K w per column
    statistics = np.einsum("ip,ip->p", weights, kernel @ weights)
    observed, null = float(statistics[0]), statistics[1:]
    threshold = float(np.quantile(null, 1 - alpha))
    p_value = float((1 + (null >= observed).sum()) / (permutations + 1))

    # witness, each text left out of its own window: mean K to current − mean K to reference
    to_ref, to_cur = kernel[:, :n].sum(axis=1), kernel[:, n:].sum(axis=1)
    witness = np.r_[
        to_cur[:n] / m - (to_ref[:n] - 1.0) / (n - 1),
        (to_cur[n:] - 1.0) / (m - 1) - to_ref[n:] / n,
    ]
    cutoff = float(np.quantile(witness[:n], DEFAULT_TAIL))
    ev = None
    if with_evidently and evidently_installed():
        ev = evidently_scores(
            _subsample(ref, MAX_EVIDENTLY_PER_WINDOW, rng),
            _subsample(cur, MAX_EVIDENTLY_PER_WINDOW, rng),
        )
    return DriftResult(
        drift=p_value <= alpha,
        score=observed,
        threshold=threshold,
        p_value=p_value,
        method=METHOD,
        auc=_auc(witness, np.r_[np.zeros(n, bool), np.ones(m, bool)]),
        reference_size=n,
        current_size=m,
        seconds=time.perf_counter() - started,
        evidently=ev,
        novel=[int(i) for i in cur_rows[witness[n:] > cutoff]],
        cutoff=cutoff,
    )


# --------------------------------------------------------------------------------------------
# Surface baseline
# --------------------------------------------------------------------------------------------


@dataclass
class SurfaceTest:
    """One surface statistic: window means and a two-sample Kolmogorov–Smirnov test."""

    reference_mean: float
    current_mean: float
    statistic: float
    p_value: float
    drift: bool


@dataclass
class SurfaceResult:
    """How the texts *look*: length, word count, out-of-vocabulary share."""

    drift: bool
    length: SurfaceTest
    word_count: SurfaceTest
    oov_share: SurfaceTest
    alpha: float


def words(text: str) -> list[str]:
    """Lower-case word tokens."""
    return _WORD.findall(text.lower())


def surface_baseline(
    reference_texts: Sequence[str], current_texts: Sequence[str], alpha: float = DEFAULT_ALPHA
) -> SurfaceResult:
    """Classic input monitoring, as the baseline the semantic verdict is compared with.

    Out-of-vocabulary share of a query = share of its words not found in the reference window.
    For the reference itself it is computed leave-one-out (words seen in *other* reference
    queries), so both windows are measured the same way. Each test uses alpha / 3 (Bonferroni);
    the verdict is drift if any test rejects.
    """
    from collections import Counter

    from scipy.stats import ks_2samp

    ref_words = [words(t) for t in reference_texts]
    cur_words = [words(t) for t in current_texts]
    counts: Counter[str] = Counter()
    for ws in ref_words:
        counts.update(set(ws))

    def oov(ws: list[str], own: bool) -> float:
        if not ws:
            return 0.0
        seen = (counts[w] - (1 if own else 0) > 0 for w in ws)
        return 1.0 - sum(seen) / len(ws)

    level = alpha / 3

    def test(a: list[float], b: list[float]) -> SurfaceTest:
        # exact p-values for small windows; the asymptotic one beyond (exact fails at 10k²)
        result = ks_2samp(a, b, method="auto" if len(a) * len(b) <= 1_000_000 else "asymp")
        return SurfaceTest(
            reference_mean=float(np.mean(a)),
            current_mean=float(np.mean(b)),
            statistic=float(result.statistic),
            p_value=float(result.pvalue),
            drift=bool(result.pvalue < level),
        )

    length = test([len(t) for t in reference_texts], [len(t) for t in current_texts])
    count = test([len(w) for w in ref_words], [len(w) for w in cur_words])
    share = test([oov(w, True) for w in ref_words], [oov(w, False) for w in cur_words])
    return SurfaceResult(
        drift=length.drift or count.drift or share.drift,
        length=length,
        word_count=count,
        oov_share=share,
        alpha=alpha,
    )


# --------------------------------------------------------------------------------------------
# Emerging topics
# --------------------------------------------------------------------------------------------


@dataclass
class EmergingTopic:
    """A cluster of the current texts that drove the verdict: texts the reference does not reach."""

    share: float  # of the current window
    count: int  # estimated texts in the full current window
    examples: list[str]  # most typical texts (closest to the cluster centroid)
    novelty: float  # median over members of 1 − mean cosine of their 3 nearest reference texts
    nearest_reference_similarity: float  # median over members of the best reference cosine
    reference_similarity: float  # median best cosine of reference texts to each other
    coverage: float | None = None  # mean best retrieval score of its texts (None: not given)
    coverage_per_query: list[float] = field(default_factory=list)


def _choose_k(n: int) -> int:
    """About sqrt(n / 2) clusters: 5 for 50 novel texts, capped at 30."""
    return int(np.clip(round(np.sqrt(n / 2)), 1, 30))


def emerging_topics(
    reference_emb: np.ndarray,
    current_emb: np.ndarray,
    current_texts: Sequence[str],
    result: DriftResult | None = None,
    *,
    min_size: int = 5,
    examples: int = 5,
    seed: int = 0,
    coverage: Callable[[np.ndarray], list[float]] | None = None,
) -> list[EmergingTopic]:
    """What the current window asks that the reference does not cover, largest first.

    Only the texts that drove the verdict are clustered: the current texts whose MMD witness
    exceeds the reference's own tail (`DriftResult.novel`). Without a `result` the test is run
    here (without evidently); a window without drift has no emerging topic. Those texts are
    clustered with k-means on unit vectors (about sqrt(n/2) clusters); a cluster of at least
    `min_size` texts is a topic. Counts are scaled up when the test subsampled the window.
    `coverage(vectors)` returns each text's best retrieval score against the knowledge base.
    """
    from sklearn.cluster import KMeans

    texts = list(current_texts)
    if len(current_emb) != len(texts):
        raise ValueError("current_emb and current_texts differ in length")
    if result is None:
        result = detect_drift(reference_emb, current_emb, seed=seed, with_evidently=False)
    if not result.drift or len(result.novel) < min_size:
        return []
    rng = np.random.default_rng(seed)
    ref = _subsample(_normalise(reference_emb), MAX_PER_WINDOW, rng)
    rows = np.asarray(result.novel)
    cur = _normalise(current_emb)[rows]
    scale = len(texts) / result.current_size
    best = np.sort(cur @ ref.T, axis=1)[:, ::-1]
    novelty = 1.0 - best[:, :3].mean(axis=1)
    ref_sims = ref @ ref.T
    np.fill_diagonal(ref_sims, -np.inf)
    ref_typical = float(np.median(ref_sims.max(axis=1)))

    n_clusters = _choose_k(len(cur))
    labels = KMeans(n_clusters=n_clusters, n_init=3, random_state=seed).fit_predict(cur)
    found: list[EmergingTopic] = []
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        if len(members) < min_size:
            continue
        centroid = cur[members].mean(axis=0)
        order = members[np.argsort(-(cur[members] @ centroid))]
        topic = EmergingTopic(
            share=len(members) / result.current_size,
            count=round(len(members) * scale),
            examples=[texts[rows[i]] for i in order[:examples]],
            novelty=float(np.median(novelty[members])),
            nearest_reference_similarity=float(np.median(best[members, 0])),
            reference_similarity=ref_typical,
        )
        if coverage is not None:
            scores = [float(s) for s in coverage(cur[order])]
            topic.coverage = float(np.mean(scores)) if scores else None
            topic.coverage_per_query = scores[:examples]
        found.append(topic)
    return sorted(found, key=lambda t: -t.share)


# --------------------------------------------------------------------------------------------
# The combined report (the `llmops drift` JSON)
# --------------------------------------------------------------------------------------------


@dataclass
class DriftReport:
    """Semantic verdict, its explanation, and the surface and evidently verdicts beside it."""

    result: DriftResult
    surface: SurfaceResult
    topics: list[EmergingTopic]
    reference_count: int
    current_count: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `llmops drift` (README, "Command line"): the verdict (`drift`, `score`,
        `threshold`, `method`, `p_value`), its `explanation`, and the other tests' scores."""
        r = self.result
        return {
            "drift": r.drift,
            "score": r.score,
            "threshold": r.threshold,
            "method": r.method,
            "p_value": r.p_value,
            "explanation": {
                "summary": explain(self),
                "emerging_topics": [asdict(t) for t in self.topics],
            },
            "surface": asdict(self.surface),
            "evidently": asdict(r.evidently) if r.evidently else None,
            "reference_count": self.reference_count,
            "current_count": self.current_count,
            "auc": r.auc,
            "seconds": r.seconds,
        }


def explain(report: DriftReport) -> str:
    """One readable sentence per finding: what appeared, how much, and how well it is covered."""
    r = report.result
    verdict = "drift" if r.drift else "no drift"
    lines = [
        f"semantic: {verdict} (MMD² {r.score:.2e}, threshold {r.threshold:.2e}, "
        f"p={r.p_value:.3f}); surface: "
        f"{'drift' if report.surface.drift else 'no drift'}"
    ]
    for topic in report.topics:
        cov = "" if topic.coverage is None else f"; knowledge-base coverage {topic.coverage:.2f}"
        lines.append(
            f"about {topic.count} queries ({topic.share:.0%}) like {topic.examples[0]!r} "
            f"appeared that the reference does not cover{cov}"
        )
    return "\n".join(lines)


def drift_report(
    reference_texts: Sequence[str],
    current_texts: Sequence[str],
    encode: Callable[[list[str]], np.ndarray],
    coverage: Callable[[np.ndarray], list[float]] | None = None,
    *,
    seed: int = 0,
    with_evidently: bool = True,
) -> DriftReport:
    """Encode both windows once, then `compare_windows` them."""
    reference_texts, current_texts = list(reference_texts), list(current_texts)
    return compare_windows(
        reference_texts,
        np.asarray(encode(reference_texts)),
        current_texts,
        np.asarray(encode(current_texts)),
        coverage,
        seed=seed,
        with_evidently=with_evidently,
    )


def compare_windows(
    reference_texts: Sequence[str],
    reference_emb: np.ndarray,
    current_texts: Sequence[str],
    current_emb: np.ndarray,
    coverage: Callable[[np.ndarray], list[float]] | None = None,
    *,
    seed: int = 0,
    with_evidently: bool = True,
) -> DriftReport:
    """Test, explain and compare with the surface baseline, on windows already encoded.

    Emerging topics are clustered from the texts that drove a drift verdict, so a quiet window
    reports none (clusters of a no-drift window would be noise).
    """
    result = detect_drift(reference_emb, current_emb, seed=seed, with_evidently=with_evidently)
    topics = emerging_topics(
        reference_emb, current_emb, current_texts, result, seed=seed, coverage=coverage
    )
    return DriftReport(
        result=result,
        surface=surface_baseline(reference_texts, current_texts),
        topics=topics,
        reference_count=len(reference_texts),
        current_count=len(current_texts),
    )


def evidently_html(
    reference_emb: np.ndarray,
    current_emb: np.ndarray,
    *,
    max_per_window: int = MAX_EVIDENTLY_HTML_PER_WINDOW,
    seed: int = 0,
) -> str:
    """evidently's own embedding-drift report (its default, model-based method with its t-SNE
    plot) as a standalone HTML page. Only the default method is rendered: every evidently
    embedding metric runs its own t-SNE, which took over a minute for three metrics at 1,000 per
    window; the MMD and distance scores are already in `drift.json`. Windows are subsampled
    (seeded) to keep the plot's t-SNE to seconds."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import EmbeddingsDrift

    rng = np.random.default_rng(seed)
    ref = _subsample(_normalise(reference_emb), max_per_window, rng)
    cur = _subsample(_normalise(current_emb), max_per_window, rng)
    columns = [f"e{i}" for i in range(ref.shape[1])]
    definition = DataDefinition(embeddings={"query": columns}, numerical_columns=[])

    def dataset(x: np.ndarray) -> Dataset:
        return Dataset.from_pandas(pd.DataFrame(x, columns=columns), data_definition=definition)

    report = Report([EmbeddingsDrift(embeddings_name="query")])
    return report.run(dataset(cur), dataset(ref)).get_html_str(as_iframe=False)
