"""The drift tests compared on the dev trials, beside the shipped one (`llmops.monitoring.drift`).

Each candidate takes a reference and a current window of unit vectors and returns its p-value;
drift when p ≤ alpha. All but the classifier test are permutation tests (exact level).

- `knn_purity`: the test shipped before issue 17: share of current texts whose 15 nearest
  pooled neighbours are ≥ 90 % current, permutation threshold.
- `novelty_tail`: each text's distance to its k nearest reference texts (reference texts
  leave-one-out); the share of current texts beyond the reference's own `tail` quantile.
- `novelty_mean`: the same distances, mean current minus mean reference.
- `knn_share`: the mean share of current texts among current texts' k nearest pooled
  neighbours (one-sided), or of same-window texts among every text's (Schilling's test).
- MMD² with a Gaussian kernel is `llmops.monitoring.drift.detect_drift` itself (its `bandwidth`
  swept).
- `classifier`: logistic regression cross-fitted on two folds; the statistic is the mean held-out
  ROC AUC, its p-value the normal approximation of the Mann–Whitney null (approximate level).
"""

from __future__ import annotations

import numpy as np

PERMUTATIONS = 200
NEIGHBOURS = 64  # pooled neighbours kept per text; shuffles read reference ones from these


def neighbour_table(points: np.ndarray, k: int, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k most cosine-similar other rows (self excluded), most similar first:
    (indices, similarities), computed blockwise so memory stays at block × n."""
    k = min(k, len(points) - 1)
    index = np.empty((len(points), k), dtype=np.int64)
    sims = np.empty((len(points), k), dtype=np.float32)
    for start in range(0, len(points), block):
        block_sims = points[start : start + block] @ points.T
        rows = np.arange(block_sims.shape[0])
        block_sims[rows, rows + start] = -np.inf
        top = np.argpartition(-block_sims, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(block_sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1)
        index[start : start + block] = np.take_along_axis(top, order, axis=1)
        sims[start : start + block] = np.take_along_axis(top_sims, order, axis=1)
    return index, sims


def knn_indices(points: np.ndarray, k: int, block: int = 2048) -> np.ndarray:
    """Indices of each row's k most cosine-similar other rows (self excluded)."""
    return neighbour_table(points, k, block)[0]


def reference_distance(
    index: np.ndarray, sims: np.ndarray, is_reference: np.ndarray, k: int
) -> np.ndarray:
    """Per pooled row, 1 − mean cosine of its k most similar *reference* rows (itself excluded,
    so reference rows are measured leave-one-out). Read from the neighbour table; a row with
    fewer than k reference rows among its neighbours counts the missing ones at the table's
    last similarity, an upper bound, so the distance is never overstated."""
    mask = is_reference[index]
    chosen = mask & (np.cumsum(mask, axis=1) <= k)
    found = chosen.sum(axis=1)
    total = (sims * chosen).sum(axis=1) + (k - found) * sims[:, -1]
    return 1.0 - total / k


def _p(observed: float, null: np.ndarray) -> float:
    return float((1 + (null >= observed).sum()) / (len(null) + 1))


def knn_purity(
    ref: np.ndarray, cur: np.ndarray, seed: int, k: int = 15, purity: float = 0.9
) -> float:
    rng = np.random.default_rng(seed)
    neighbours = knn_indices(np.vstack([ref, cur]), k)
    labels = np.r_[np.zeros(len(ref), bool), np.ones(len(cur), bool)]

    def statistic(lab: np.ndarray) -> float:
        return float((lab[neighbours].mean(axis=1)[lab] >= purity).mean())

    null = np.array([statistic(rng.permutation(labels)) for _ in range(PERMUTATIONS)])
    return _p(statistic(labels), null)


def novelty_mean(ref: np.ndarray, cur: np.ndarray, seed: int, k: int = 3) -> float:
    rng = np.random.default_rng(seed)
    index, sims = neighbour_table(np.vstack([ref, cur]), NEIGHBOURS + k)
    labels = np.r_[np.ones(len(ref), bool), np.zeros(len(cur), bool)]

    def statistic(lab: np.ndarray) -> float:
        d = reference_distance(index, sims, lab, k)
        return float(d[~lab].mean() - d[lab].mean())

    null = np.array([statistic(rng.permutation(labels)) for _ in range(PERMUTATIONS)])
    return _p(statistic(labels), null)


def classifier(ref: np.ndarray, cur: np.ndarray, seed: int, c: float = 1.0) -> float:
    from scipy.stats import norm
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    x = np.vstack([ref, cur])
    y = np.r_[np.zeros(len(ref)), np.ones(len(cur))]
    fold = rng.permutation(len(x)) % 2
    aucs, variances = [], []
    for f in (0, 1):
        train, test = fold != f, fold == f
        model = LogisticRegression(C=c, max_iter=500).fit(x[train], y[train])
        scores = model.decision_function(x[test])
        aucs.append(roc_auc_score(y[test], scores))
        n1, n0 = y[test].sum(), (1 - y[test]).sum()
        variances.append((n1 + n0 + 1) / (12 * n1 * n0))
    z = (np.mean(aucs) - 0.5) / np.sqrt(np.mean(variances) / 2)
    return float(norm.sf(z))


def knn_share(ref: np.ndarray, cur: np.ndarray, seed: int, k: int = 10, one_sided: bool = True):
    """Mean share of current texts among the k nearest pooled neighbours of current texts
    (one-sided), or of same-window texts among every text's (Schilling's test)."""
    rng = np.random.default_rng(seed)
    neighbours = knn_indices(np.vstack([ref, cur]), k)
    labels = np.r_[np.zeros(len(ref), bool), np.ones(len(cur), bool)]

    def statistic(lab: np.ndarray) -> float:
        same = lab[neighbours] == lab[:, None]
        return float(same[lab].mean() if one_sided else same.mean())

    null = np.array([statistic(rng.permutation(labels)) for _ in range(PERMUTATIONS)])
    return _p(statistic(labels), null)


def novelty_tail(ref: np.ndarray, cur: np.ndarray, seed: int, k: int = 3, tail: float = 0.95):
    """Share of current texts farther from their k nearest reference texts than the
    reference's own (leave-one-out) `tail` quantile, permutation threshold."""
    rng = np.random.default_rng(seed)
    index, sims = neighbour_table(np.vstack([ref, cur]), NEIGHBOURS + k)
    labels = np.r_[np.ones(len(ref), bool), np.zeros(len(cur), bool)]

    def statistic(lab: np.ndarray) -> float:
        d = reference_distance(index, sims, lab, k)
        return float((d[~lab] > np.quantile(d[lab], tail)).mean())

    null = np.array([statistic(rng.permutation(labels)) for _ in range(PERMUTATIONS)])
    return _p(statistic(labels), null)
