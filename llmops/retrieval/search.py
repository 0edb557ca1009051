"""Retrieve: the chunks of the knowledge base nearest in meaning to a question."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llmops.errors import IndexNotFoundError
from llmops.retrieval.contexts import RetrievalSpec
from resources.embedder import Embedder
from resources.vector_store import SearchHit, VectorStore


@dataclass(frozen=True)
class Retrieval:
    """The hits of one query, and the table version they came from (for lineage)."""

    query: str
    index_version: int
    hits: list[SearchHit]

    def results(self) -> list[dict]:
        """Hits as `llmops search --json` and the service print them: `chunk_id`, `source`,
        `heading`, `text`, `score`."""
        return [
            {
                "chunk_id": h.chunk_id,
                "source": h.document,
                "heading": h.heading,
                "text": h.text,
                "score": round(h.score, 6),
            }
            for h in self.hits
        ]


def require_index(embedder: Embedder, store: VectorStore, index_id: str | None = None) -> str:
    """The table key (default: the embedder's model id), once its table exists;
    `IndexNotFoundError` says what to run."""
    model_id = index_id or embedder.model_id
    if not store.has_table(model_id):
        raise IndexNotFoundError(
            f"no index {model_id} in {store.uri}: run `llmops ingest` first"
            + ("" if index_id is None else " (it builds the production context's index)")
        )
    return model_id


def retrieve(
    queries: Sequence[str],
    embedder: Embedder,
    store: VectorStore,
    k: int = 5,
    version: int | None = None,
    vectors: np.ndarray | None = None,
    spec: RetrievalSpec | None = None,
    index_id: str | None = None,
) -> list[Retrieval]:
    """Top-`k` chunks for each query, encoded in one batch (unless their `vectors` are given)
    and searched at one table version (the latest, or `version` checked out to reproduce what
    was served then).

    `spec` (a context configuration's retrieval settings) picks vector, full-text or hybrid
    search; with `rerank: cosine` its `candidates` hits are re-ordered by cosine to the query,
    and with `per_document` no document places more than that many of them in the top `k`.
    """
    spec = spec or RetrievalSpec()  # vector search; `k` comes from the caller
    model_id = require_index(embedder, store, index_id)  # before encoding a query
    if vectors is None:
        vectors = embedder.encode(list(queries))
    widened = spec.rerank == "cosine" or spec.per_document is not None
    depth = max(spec.candidates, k) if widened else k
    found = store.search(
        model_id,
        vectors,
        k=depth,
        version=version,
        texts=list(queries),
        mode=spec.mode,
        candidates=spec.candidates,
        rrf_k=spec.rrf_k,
    )
    hits = found.hits
    if spec.rerank == "cosine":
        hits = [sorted(h, key=lambda hit: -hit.score) for h in hits]
    if spec.per_document is not None:
        hits = [cap_per_document(h, spec.per_document) for h in hits]
    return [Retrieval(q, found.version, h[:k]) for q, h in zip(queries, hits, strict=True)]


def cap_per_document(hits: Sequence[SearchHit], cap: int) -> list[SearchHit]:
    """`hits` in their order, without those of a document that already placed `cap`."""
    placed: dict[str, int] = {}
    kept = []
    for hit in hits:
        if placed.get(hit.document, 0) < cap:
            placed[hit.document] = placed.get(hit.document, 0) + 1
            kept.append(hit)
    return kept


def best_scores(vectors: np.ndarray, model_id: str, store: VectorStore) -> list[float]:
    """Each query vector's best retrieval score against the index of `model_id`: how well the
    knowledge base covers it (0.0 when nothing is found). Takes vectors, so queries a caller
    has already encoded are not encoded again."""
    return [hits[0].score if hits else 0.0 for hits in store.search(model_id, vectors, k=1).hits]
