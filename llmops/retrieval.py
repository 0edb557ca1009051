"""Retrieve: the chunks of the knowledge base nearest in meaning to a question."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llmops.errors import IndexNotFoundError
from resources.embedder import Embedder
from resources.vector_store import SearchHit, VectorStore


@dataclass(frozen=True)
class Retrieval:
    """The hits of one query, and the table version they came from (for lineage)."""

    query: str
    index_version: int
    hits: list[SearchHit]

    def results(self) -> list[dict]:
        """Hits as the JSON of DESIGN.md: `chunk_id`, `source`, `heading`, `text`, `score`."""
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


def retrieve(
    queries: Sequence[str],
    embedder: Embedder,
    store: VectorStore,
    k: int = 5,
    version: int | None = None,
    vectors: np.ndarray | None = None,
) -> list[Retrieval]:
    """Top-`k` chunks for each query, encoded in one batch (unless their `vectors` are given)
    and searched at one table version (the latest, or `version` checked out to reproduce what
    was served then)."""
    model_id = embedder.model_id
    if not store.has_table(model_id):  # before encoding: no model load for a missing index
        raise IndexNotFoundError(
            f"no index for embedding model {model_id} in {store.uri}: run `llmops ingest` first"
        )
    if vectors is None:
        vectors = embedder.encode(list(queries))
    found = store.search(model_id, vectors, k=k, version=version)
    return [Retrieval(q, found.version, h) for q, h in zip(queries, found.hits, strict=True)]


def best_scores(texts: Sequence[str], embedder: Embedder, store: VectorStore) -> list[float]:
    """Each text's best retrieval score against the index: how well the knowledge base covers
    it (0.0 when nothing is found)."""
    return [r.hits[0].score if r.hits else 0.0 for r in retrieve(texts, embedder, store, k=1)]
