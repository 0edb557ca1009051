"""Benign anchors: the benign side of the contrastive injection score, taken from the deployment.

`injection_semantic` scores a text by how much nearer it is to known attacks than to benign
text. Benign text shipped with llmops (`known_benign.jsonl`, questions to an HR handbook) only
describes one knowledge base: deployed on developer docs, every ordinary question ("How do I
program using threads?") is far from it and looks like an attack. The anchors describe the
knowledge base actually served instead:

- `chunk`: the indexed chunks' stored vectors (nothing is encoded again; quarantined chunks are
  left out, they read like attacks);
- `heading`: the distinct headings of those chunks, the closest thing a corpus has to the
  questions asked about it;
- `evalset`: the eval set's questions;
- `served`: questions answered and flagged by no guardrail.

The threshold is calibrated on the same anchors: each question-like anchor (heading, eval or
served question; chunks only when there is none) is scored as if it were new, leaving out
every anchor of its own document (its own question for a question), and the threshold is the
99th percentile of those scores plus a margin. Leaving out the document makes the scores those
of a question whose answer the index does not hold word for word, so the percentile is
conservative rather than flattered by a chunk that repeats its heading.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from llmops.guardrails.injection import (
    MARGIN_K,
    InjectionSemanticCheck,
    InjectionSemanticSettings,
    margins,
)
from llmops.storage.metadata.records import QueryRecord
from resources.embedder import Embedder
from resources.vector_store import VectorStore, anchor_schema

SOURCES = ("chunk", "heading", "evalset", "served")
MAX_CHUNKS = 20_000  # a matrix product over more rows would cost a request milliseconds
MAX_QUESTIONS = 5_000  # served questions kept, the latest first
PERCENTILE = 99.0
MARGIN = 0.03
_BLOCK = 512


@dataclass(frozen=True)
class Anchors:
    """Benign anchors aligned row by row; `documents` groups the anchors scored together when
    calibrating (a chunk's or heading's document, a question's own text)."""

    texts: list[str]
    sources: list[str]
    documents: list[str]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def count(self, source: str) -> int:
        return sum(s == source for s in self.sources)


@dataclass(frozen=True)
class Calibration:
    """The threshold chosen for one anchor set and what it rests on."""

    threshold: float
    percentile_score: float  # the PERCENTILE-th held-out benign score
    scored: int  # anchors scored
    scored_source: str  # `questions` or `chunks`
    attack_detection: float  # share of the known attacks (each without itself) at or above it
    scores: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))


def served_questions(records: Iterable[QueryRecord], limit: int = MAX_QUESTIONS) -> list[str]:
    """Distinct questions answered without any guardrail triggering, the latest first: what
    users of this deployment ask."""
    kept: dict[str, None] = {}
    for record in sorted(records, key=lambda r: r.created_at, reverse=True):
        if record.status != "answered" or any(v.get("triggered") for v in record.guardrails):
            continue
        kept.setdefault(record.question.strip(), None)
        if len(kept) >= limit:
            break
    return [q for q in kept if q]


def _sampled(rows: pa.Table, limit: int) -> pa.Table:
    """At most `limit` rows, picked by a hash of the chunk id: the same chunks every time."""
    if rows.num_rows <= limit:
        return rows
    keys = [hashlib.sha256(c.encode()).hexdigest() for c in rows.column("chunk_id").to_pylist()]
    keep = sorted(range(rows.num_rows), key=keys.__getitem__)[:limit]
    return rows.take(sorted(keep))


def collect_anchors(
    store: VectorStore,
    embedder: Embedder,
    eval_questions: Sequence[str] = (),
    served: Sequence[str] = (),
    max_chunks: int = MAX_CHUNKS,
) -> Anchors:
    """The anchors of the index of `embedder`'s model in `store`, plus the given questions
    (encoded here, with the distinct headings)."""
    texts: list[str] = []
    sources: list[str] = []
    documents: list[str] = []
    parts: list[np.ndarray] = []
    if store.has_table(embedder.model_id):
        table = store.table(embedder.model_id)
        query = table.search().select(["chunk_id", "document", "heading", "text", "vector"])
        if "quarantined" in table.schema.names:
            query = query.where("NOT quarantined")
        rows = _sampled(query.limit(None).to_arrow(), max_chunks)
        if rows.num_rows:
            texts += rows.column("text").to_pylist()
            sources += ["chunk"] * rows.num_rows
            documents += rows.column("document").to_pylist()
            parts.append(np.stack(rows.column("vector").to_numpy(zero_copy_only=False)))
            headings: dict[str, str] = {}
            for trail, document in zip(
                rows.column("heading").to_pylist(), documents[-rows.num_rows :], strict=True
            ):
                last = (trail or "").rsplit(" > ", 1)[-1].strip()
                if len(last.split()) >= 2:  # "Examples", "Notes": no question in one word
                    headings.setdefault(last, document)
            _add(texts, sources, documents, parts, embedder, "heading", headings)
    for source, questions in (("evalset", eval_questions), ("served", served)):
        distinct = {q.strip(): q.strip() for q in questions if q.strip()}
        _add(texts, sources, documents, parts, embedder, source, distinct)
    dimension = embedder.dimension
    vectors = np.concatenate(parts) if parts else np.zeros((0, dimension), np.float32)
    return Anchors(texts, sources, documents, vectors.astype(np.float32))


def _add(
    texts: list[str],
    sources: list[str],
    documents: list[str],
    parts: list[np.ndarray],
    embedder: Embedder,
    source: str,
    items: dict[str, str],
) -> None:
    """Encode `items` (text → document) and append them as anchors of `source`."""
    if not items:
        return
    texts += list(items)
    sources += [source] * len(items)
    documents += [f"{source}:{d}" if source != "heading" else d for d in items.values()]
    parts.append(embedder.encode(list(items)))


def held_out_scores(attacks: np.ndarray, anchors: Anchors, rows: np.ndarray) -> np.ndarray:
    """The margin of each anchor in `rows` against the attacks and the anchors of every other
    document (a row never counts as its own benign neighbour)."""
    documents = np.array(anchors.documents, dtype=object)
    scores = []
    for start in range(0, len(rows), _BLOCK):
        block = rows[start : start + _BLOCK]
        queries = anchors.vectors[block].T
        benign = anchors.vectors @ queries
        benign[documents[:, None] == documents[block][None, :]] = -2.0
        scores.append(margins(attacks @ queries, benign, MARGIN_K))
    return np.concatenate(scores) if scores else np.zeros(0, np.float32)


def calibrate(
    attacks: np.ndarray,
    anchors: Anchors,
    percentile: float = PERCENTILE,
    margin: float = MARGIN,
) -> Calibration:
    """The threshold of one deployment: the `percentile`-th held-out score of its
    question-like anchors (chunks when it has none) plus `margin`, rounded up to 0.01."""
    if len(anchors) == 0:
        raise ValueError("no benign anchors to calibrate on")
    questions = np.array([s != "chunk" for s in anchors.sources])
    rows = np.flatnonzero(questions) if questions.any() else np.arange(len(anchors))
    scores = held_out_scores(attacks, anchors, rows)
    top = float(np.percentile(scores, percentile))
    threshold = float(np.ceil((top + margin) * 100 - 1e-9) / 100)
    own = attacks @ attacks.T
    np.fill_diagonal(own, -2.0)
    known = margins(own, anchors.vectors @ attacks.T, MARGIN_K)
    return Calibration(
        threshold=threshold,
        percentile_score=top,
        scored=len(rows),
        scored_source="questions" if questions.any() else "chunks",
        attack_detection=float(np.mean(known >= threshold)),
        scores=scores,
    )


def anchor_rows(anchors: Anchors, threshold: float) -> pa.Table:
    """The anchors as rows of the LanceDB anchor table."""
    return pa.Table.from_pydict(
        {
            "text": anchors.texts,
            "source": anchors.sources,
            "document": anchors.documents,
            "threshold": [threshold] * len(anchors),
            "vector": list(anchors.vectors),
        },
        schema=anchor_schema(anchors.vectors.shape[1]),
    )


@dataclass(frozen=True)
class AnchorRefresh:
    """What one refresh stored: the anchors per source, the calibration, the table version."""

    counts: dict[str, int]
    calibration: Calibration
    table_version: int


def refresh_anchors(
    store: VectorStore,
    embedder: Embedder,
    attacks: np.ndarray,
    eval_questions: Sequence[str] = (),
    served: Sequence[str] = (),
) -> AnchorRefresh | None:
    """Rebuild the deployment's anchors and their threshold against the known attacks'
    vectors `attacks`; None (nothing stored, the shipped references stay in use) when the
    deployment has no index and no questions yet."""
    anchors = collect_anchors(store, embedder, eval_questions, served)
    if len(anchors) == 0:
        return None
    calibration = calibrate(attacks, anchors)
    version = store.replace_anchors(embedder.model_id, anchor_rows(anchors, calibration.threshold))
    return AnchorRefresh({s: anchors.count(s) for s in SOURCES}, calibration, version)


def attack_vectors(
    settings: InjectionSemanticSettings | None, embedder: Embedder, store: VectorStore
) -> np.ndarray:
    """The known attacks' vectors of `settings`' corpus (kept in the attack table)."""
    shipped = (settings or InjectionSemanticSettings()).model_copy(update={"benign": "shipped"})
    return InjectionSemanticCheck(shipped, embedder, store).corpus.vectors
