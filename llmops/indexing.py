"""Bring a model's vector table in line with the current chunks, encoding only what is new.

A chunk id hashes the document path, the chunk text and the chunker settings, so "already
embedded" is a set lookup: unchanged chunks are reused, new ids are encoded, and ids that are
no longer produced are deleted — in one LanceDB commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from llmops.chunking import Chunk
from llmops.guardrails.pipeline import Guardrails
from resources.embedder import Embedder
from resources.vector_store import VectorStore, chunk_schema, table_name


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
    reused: int
    deleted: int
    quarantined: int  # of the chunks embedded now
    table_version: int
    ann_index: str
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


def sync_index(
    chunks: Sequence[Chunk],
    kept_documents: Collection[str],
    embedder: Embedder,
    store: VectorStore,
    progress: Callable[[int, int], None] | None = None,
    guardrails: Guardrails | None = None,
) -> IndexSyncResult:
    """Encode new chunks, scan them with the ingest guardrails, delete stale ones, refresh the
    ANN index; one table version."""
    started = time.perf_counter()
    model_id = embedder.model_id
    plan = plan_sync(chunks, store.stored_chunks(model_id), kept_documents)
    encode_started = time.perf_counter()
    vectors = embedder.encode([c.embedding_text for c in plan.to_embed], progress=progress)
    encode_seconds = time.perf_counter() - encode_started
    reasons = (
        quarantine_reasons(plan.to_embed, vectors, guardrails)
        if guardrails is not None and plan.to_embed
        else None
    )
    store.sync(model_id, chunk_rows(plan.to_embed, vectors, reasons), plan.stale_ids)
    ann = store.refresh_ann_index(model_id)
    return IndexSyncResult(
        model_id=model_id,
        table=table_name(model_id),
        chunks=len(chunks),
        embedded=len(plan.to_embed),
        reused=plan.reused,
        deleted=len(plan.stale_ids),
        quarantined=sum(r is not None for r in reasons or []),
        table_version=store.version(model_id),
        ann_index=ann,
        encode_seconds=round(encode_seconds, 3),
        seconds=round(time.perf_counter() - started, 3),
    )
