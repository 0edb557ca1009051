"""Labelled drift trials from the real texts of `bench/drift_corpora.py`, and their vectors.

A trial is a reference window and a current window of `size` texts each, drawn without
replacement from one source's texts of one split (`dev` or `test`):

- `none`: both windows from the same topics (disjoint samples);
- `new`: a share of the current window from held-out topics, absent from the reference. Topics
  are held out at random until they hold enough texts; the reference and the rest of the current
  window come from the other topics. `none` holds out topics the same way (share 0), so the two
  kinds differ only in the injected share;
- `style` (man pages only): a share of the current window replaced by the NAME lines of pages of
  the same topics ("open and possibly create a file" instead of a DESCRIPTION sentence): the
  same subjects in another register, written by the same authors. Not drift in meaning.

Every text is encoded once with the real MiniLM embedder; vectors are cached under
`$LLMOPS_HOME/benchmarks/drift/` keyed by a hash of the texts and the model.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.drift_corpora import Text, load

SPLIT_SEED = {"dev": 0, "test": 100_000}  # trial seeds: dev 0.., test 100000..
HELD_OUT_LIMIT = 0.4  # held-out topics never hold more than this share of a pool


@dataclass
class Pool:
    """One source's texts of one split, with their vectors."""

    source: str
    split: str
    texts: list[Text]
    vectors: np.ndarray

    def indices(self, style: str = "main") -> np.ndarray:
        return np.array([i for i, t in enumerate(self.texts) if t.style == style])


@dataclass
class Trial:
    """Reference and current windows as row indices into a pool, and which rows are new."""

    pool: Pool
    kind: str
    share: float
    seed: int
    reference: np.ndarray
    current: np.ndarray
    injected: np.ndarray  # bool per current row: from a held-out topic or the style register

    def windows(self) -> tuple[np.ndarray, np.ndarray]:
        return self.pool.vectors[self.reference], self.pool.vectors[self.current]

    def texts(self) -> tuple[list[str], list[str]]:
        t = self.pool.texts
        return [t[i].text for i in self.reference], [t[i].text for i in self.current]


def cache_dir() -> Path:
    home = Path(os.environ.get("LLMOPS_HOME", ".llmops"))
    return home / "benchmarks" / "drift"


def encoded(texts: list[str], embedder) -> np.ndarray:
    """Vectors of `texts`, from the cache when the same texts were encoded by the same model."""
    key = hashlib.sha1("\n".join([embedder.model_id, *texts]).encode()).hexdigest()[:16]
    path = cache_dir() / f"vectors-{key}.npy"
    if path.is_file():
        return np.load(path)
    vectors = np.asarray(embedder.encode(texts), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def pools(sources: tuple[str, ...], embedder) -> dict[tuple[str, str], Pool]:
    """(source, split) → pool."""
    found = {}
    for source in sources:
        texts = load(source)
        vectors = encoded([t.text for t in texts], embedder)
        for split in ("dev", "test"):
            keep = [i for i, t in enumerate(texts) if t.split == split]
            found[source, split] = Pool(source, split, [texts[i] for i in keep], vectors[keep])
    return found


def make_trial(pool: Pool, kind: str, share: float, size: int, seed: int) -> Trial:
    """One seeded trial; raises ValueError when the pool is too small for `size`."""
    rng = np.random.default_rng(seed + SPLIT_SEED[pool.split])
    main = pool.indices("main")
    n_new = round(share * size) if kind in ("new", "style") else 0
    topics = np.array([pool.texts[i].topic for i in main])
    held: set[str] = set()
    if kind in ("new", "none"):
        names, counts = np.unique(topics, return_counts=True)
        # at least the share needed, whatever it is (none: the same as a 10 % trial)
        want = max(n_new, round(0.1 * size))
        total = 0
        for j in rng.permutation(len(names)):
            if total >= want:
                break
            if total + counts[j] > HELD_OUT_LIMIT * len(main):
                continue
            held.add(str(names[j]))
            total += counts[j]
        if total < want:
            raise ValueError(f"{pool.source}/{pool.split}: too few texts to hold out {want}")
    is_held = np.isin(topics, list(held))
    known = rng.permutation(main[~is_held])
    if len(known) < 2 * size - n_new:
        raise ValueError(f"{pool.source}/{pool.split}: {len(known)} texts, {size} per window")
    reference = known[:size]
    rest = known[size : 2 * size - n_new]
    if kind == "new":
        extra = rng.choice(main[is_held], n_new, replace=False)
    elif kind == "style":
        names_ = pool.indices("name")
        extra = rng.choice(names_, n_new, replace=False)
    else:
        extra = np.array([], dtype=int)
    current = np.r_[rest, extra].astype(int)
    injected = np.r_[np.zeros(len(rest), bool), np.ones(len(extra), bool)]
    order = rng.permutation(len(current))
    return Trial(pool, kind, share, seed, reference, current[order], injected[order])
