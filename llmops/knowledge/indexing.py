"""Bring a model's vector table in line with the current chunks, encoding only what is new.

A chunk id hashes the document path, the chunk text and the chunker settings, so "already
embedded" is a set lookup: unchanged chunks are reused, new ids are encoded, and ids that are
no longer produced are deleted — in one LanceDB commit.

A very large corpus can be encoded in parallel first: each hash bucket of the chunk ids is
encoded by its own run into its own staging table (`stage_bucket`), outside the single-writer
pool, and the commit (`sync_index`) then takes staged vectors instead of encoding them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from llmops.guardrails.pipeline import Guardrails
from llmops.knowledge.chunking import Chunk
from resources.embedder import Embedder
from resources.vector_store import (
    VectorStore,
    chunk_schema,
    staged_schema,
    staged_table_name,
    table_name,
)


@dataclass(frozen=True)
class SyncPlan:
    to_embed: list[Chunk]
    reused: int
    stale_ids: list[str]


@dataclass(frozen=True)
class IndexSyncResult:
    """What one index update did; every field is a plain number or string for metadata."""

    model_id: str
    table: str
    chunks: int
    embedded: int
    from_buckets: int  # of the embedded chunks, vectors staged by bucket runs
    reused: int
    deleted: int
    quarantined: int  # of the chunks embedded now
    table_version: int
    ann_index: str
    fts_index: str
    encode_seconds: float
    seconds: float


def plan_sync(
    chunks: Sequence[Chunk], stored: pa.Table, kept_documents: Collection[str]
) -> SyncPlan:
    """Which chunks to encode and which stored ids to delete.

    Stored chunks of `kept_documents` (present but unreadable right now) are never deleted:
    a file that is briefly locked or half-written must not empty the index of its content.
    """
    stored_ids = set(stored["chunk_id"].to_pylist())
    current_ids = {c.chunk_id for c in chunks}
    to_embed = [c for c in chunks if c.chunk_id not in stored_ids]
    kept = set(kept_documents)
    stale = [
        cid
        for cid, doc in zip(
            stored["chunk_id"].to_pylist(), stored["document"].to_pylist(), strict=True
        )
        if cid not in current_ids and doc not in kept
    ]
    return SyncPlan(to_embed, len(chunks) - len(to_embed), stale)


def chunk_rows(
    chunks: Sequence[Chunk], vectors: np.ndarray, quarantine: Sequence[str | None] | None = None
) -> pa.Table:
    """Table rows of `chunks`; `quarantine[i]` is the reason chunk i is quarantined, or None."""
    schema = chunk_schema(vectors.shape[1])
    reasons = list(quarantine) if quarantine is not None else [None] * len(chunks)
    return pa.table(
        {
            "chunk_id": [c.chunk_id for c in chunks],
            "document": [c.document for c in chunks],
            "document_hash": [c.document_hash for c in chunks],
            "position": [c.position for c in chunks],
            "heading": [c.heading for c in chunks],
            "text": [c.text for c in chunks],
            "token_count": [c.token_count for c in chunks],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1), pa.float32()), vectors.shape[1]
            ),
            "quarantined": [r is not None for r in reasons],
            "quarantine_reason": reasons,
        },
        schema=schema,
    )


def quarantine_reasons(
    chunks: Sequence[Chunk], vectors: np.ndarray, guardrails: Guardrails
) -> list[str | None]:
    """Per chunk, why the ingest guardrails quarantine it (None: clean). A document that tells
    the assistant what to do is kept, marked, and never retrieved."""
    reasons: list[str | None] = []
    for chunk, vector in zip(chunks, vectors, strict=True):
        checked = guardrails.scan_chunk(chunk.text, vector)
        hits = [f"{v.check}: {v.reason}" for v in checked.triggered if v.action == "block"]
        reasons.append("; ".join(hits) if hits else None)
    return reasons


def bucket_of(chunk_id: str, buckets: int) -> int:
    """The hash bucket of a chunk: ids are SHA-256 hex, so buckets are even and stable."""
    return int(chunk_id[:8], 16) % buckets


@dataclass(frozen=True)
class StageResult:
    """What one bucket run did; every field is a plain number or string for metadata."""

    model_id: str
    table: str
    bucket: int
    buckets: int
    chunks: int  # of this bucket
    staged: int  # encoded now
    reused: int  # already in the chunk table or staged earlier
    encode_seconds: float


def stage_bucket(
    chunks: Sequence[Chunk],
    bucket: int,
    buckets: int,
    embedder: Embedder,
    store: VectorStore,
    progress: Callable[[int, int], None] | None = None,
) -> StageResult:
    """Encode the chunks of `bucket` that are neither indexed nor staged into the bucket's own
    staging table; a re-run after a crash encodes only what is still missing."""
    if not 0 <= bucket < buckets:
        raise ValueError(f"bucket {bucket} is not one of 0..{buckets - 1}")
    model_id = embedder.model_id
    mine = [c for c in chunks if bucket_of(c.chunk_id, buckets) == bucket]
    done = set(store.stored_chunks(model_id).column("chunk_id").to_pylist())
    done |= store.staged_ids(model_id, bucket, buckets)
    todo = [c for c in mine if c.chunk_id not in done]
    started = time.perf_counter()
    vectors = embedder.encode([c.embedding_text for c in todo], progress=progress)
    encode_seconds = time.perf_counter() - started
    rows = pa.table(
        {
            "chunk_id": [c.chunk_id for c in todo],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1), pa.float32()), embedder.dimension
            ),
        },
        schema=staged_schema(embedder.dimension),
    )
    store.stage_vectors(model_id, bucket, buckets, rows)
    return StageResult(
        model_id=model_id,
        table=staged_table_name(model_id, bucket, buckets),
        bucket=bucket,
        buckets=buckets,
        chunks=len(mine),
        staged=len(todo),
        reused=len(mine) - len(todo),
        encode_seconds=round(encode_seconds, 3),
    )


def chunk_vectors(
    chunks: Sequence[Chunk],
    embedder: Embedder,
    store: VectorStore,
    progress: Callable[[int, int], None] | None = None,
    index_id: str | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors of `chunks` in order, taken from bucket runs' staging tables where there, the
    rest encoded now; also how many were staged."""
    staged = store.staged_vectors(index_id or embedder.model_id, [c.chunk_id for c in chunks])
    missing = [i for i, c in enumerate(chunks) if c.chunk_id not in staged]
    vectors = np.empty((len(chunks), embedder.dimension), dtype=np.float32)
    vectors[missing] = embedder.encode([chunks[i].embedding_text for i in missing], progress)
    for i, chunk in enumerate(chunks):
        if chunk.chunk_id in staged:
            vectors[i] = staged[chunk.chunk_id]
    return vectors, len(chunks) - len(missing)


def sync_index(
    chunks: Sequence[Chunk],
    kept_documents: Collection[str],
    embedder: Embedder,
    store: VectorStore,
    progress: Callable[[int, int], None] | None = None,
    guardrails: Guardrails | None = None,
    index_id: str | None = None,
) -> IndexSyncResult:
    """Encode new chunks (or take their staged vectors), scan them with the ingest guardrails,
    delete stale ones, refresh the ANN and full-text indexes; one table version for the rows.
    Staging tables are dropped once their vectors are committed.

    `index_id` names the table (default: the embedder's model id, the main index); a context
    configuration that chunks differently keeps its own (`llmops.retrieval.contexts.index_id`).
    """
    started = time.perf_counter()
    model_id = index_id or embedder.model_id
    plan = plan_sync(chunks, store.stored_chunks(model_id), kept_documents)
    encode_started = time.perf_counter()
    vectors, from_buckets = chunk_vectors(plan.to_embed, embedder, store, progress, model_id)
    encode_seconds = time.perf_counter() - encode_started
    reasons = (
        quarantine_reasons(plan.to_embed, vectors, guardrails)
        if guardrails is not None and plan.to_embed
        else None
    )
    store.sync(model_id, chunk_rows(plan.to_embed, vectors, reasons), plan.stale_ids)
    store.drop_staged(model_id)
    ann = store.refresh_ann_index(model_id)
    fts = store.refresh_fts_index(model_id)
    return IndexSyncResult(
        model_id=embedder.model_id,
        table=table_name(model_id),
        chunks=len(chunks),
        embedded=len(plan.to_embed),
        from_buckets=from_buckets,
        reused=plan.reused,
        deleted=len(plan.stale_ids),
        quarantined=sum(r is not None for r in reasons or []),
        table_version=store.version(model_id),
        ann_index=ann,
        fts_index=fts,
        encode_seconds=round(encode_seconds, 3),
        seconds=round(time.perf_counter() - started, 3),
    )
