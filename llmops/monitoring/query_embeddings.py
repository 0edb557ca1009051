"""Logged questions as vectors, kept in LanceDB by UTC day so a drift check reads them instead of
encoding a whole window again (10,000 questions take about a minute to encode on 2 cores)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import numpy as np
import pyarrow as pa

from llmops.evaluation.evalsets import load_evalset
from llmops.monitoring.query_log import logged_queries
from llmops.monitoring.windows import DayRange
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import QueryRecord
from resources.embedder import Embedder
from resources.vector_store import VectorStore, query_schema


@dataclass(frozen=True)
class QueryEmbeddingSync:
    """What one sync did: `embedded` questions were encoded, `reused` were stored already."""

    queries: int
    embedded: int
    reused: int
    table_version: int | None
    seconds: float


@dataclass(frozen=True)
class QueryWindow:
    """Questions and their vectors, aligned row by row; `days` is None for the eval set."""

    days: DayRange | None
    texts: list[str]
    vectors: np.ndarray


def sync_query_embeddings(
    records: Sequence[QueryRecord],
    embedder: Embedder,
    vectors: VectorStore,
    progress: Callable[[int, int], None] | None = None,
) -> QueryEmbeddingSync:
    """Encode the questions the query table lacks (by query id) and store them with their day.

    Idempotent: a re-run encodes nothing and writes nothing twice (LanceDB `merge_insert` on
    `query_id`).
    """
    started = time.perf_counter()
    if not records:
        return QueryEmbeddingSync(0, 0, 0, None, 0.0)
    model_id = embedder.model_id
    days = [r.created_at.astimezone(UTC).date() for r in records]
    stored = vectors.query_vectors(model_id, min(days), max(days), columns=("query_id",))
    known = set(stored["query_id"].to_pylist())
    new = [(r, d) for r, d in zip(records, days, strict=True) if r.query_id not in known]
    version = None
    if new:
        encoded = embedder.encode([r.question for r, _ in new], progress=progress)
        rows = pa.table(
            {
                "query_id": [r.query_id for r, _ in new],
                "day": [d for _, d in new],
                "question": [r.question for r, _ in new],
                "vector": list(encoded),
            },
            schema=query_schema(embedder.dimension),
        )
        version = vectors.upsert_query_vectors(model_id, rows)
    return QueryEmbeddingSync(
        queries=len(records),
        embedded=len(new),
        reused=len(records) - len(new),
        table_version=version,
        seconds=time.perf_counter() - started,
    )


def query_window(
    days: DayRange,
    store: MetadataClient,
    embedder: Embedder,
    vectors: VectorStore,
    progress: Callable[[int, int], None] | None = None,
) -> QueryWindow:
    """The window's logged questions with their stored vectors.

    Days of the window not embedded yet are embedded first (the same step as the
    `query_embeddings` asset), so a window is never silently compared with only part of it.
    """
    sync_query_embeddings(logged_queries(store, days), embedder, vectors, progress)
    table = vectors.query_vectors(embedder.model_id, days.start, days.end)
    if table.num_rows == 0:
        return QueryWindow(days, [], np.zeros((0, embedder.dimension), np.float32))
    matrix = np.stack(table["vector"].to_numpy(zero_copy_only=False)).astype(np.float32)
    return QueryWindow(days, table["question"].to_pylist(), matrix)


def evalset_window(evalset: Path, embedder: Embedder) -> QueryWindow:
    """The eval set's questions as a reference window: "what we test the assistant on"."""
    questions = [case.question for case in load_evalset(evalset)]
    return QueryWindow(None, questions, embedder.encode(questions))
