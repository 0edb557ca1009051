"""Index stage: chunk vectors in LanceDB, updated incrementally, and the ANN recall check."""

from collections.abc import Callable
from pathlib import Path

import dagster as dg

from llmops.config import positive_int_env
from llmops.guardrails.config import load_guardrails_config
from llmops.guardrails.pipeline import Guardrails
from llmops.knowledge.chunking import Chunk
from llmops.knowledge.documents import DocumentScan
from llmops.knowledge.indexing import stage_bucket, sync_index
from llmops.markdown import md_text
from llmops.retrieval.context_registry import production, spec_of
from llmops.retrieval.experiments import Benchmark, build_index, context_embedder, context_index_id
from resources.embedder import Embedder
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore, table_name

LANCEDB_WRITE_POOL = "lancedb_write"
MIN_ANN_RECALL = 0.95
EMBED_BUCKETS = dg.StaticPartitionsDefinition(
    [str(b) for b in range(positive_int_env("LLMOPS_EMBED_BUCKETS", 4))]
)


def log_progress(log: dg.DagsterLogManager, what: str) -> Callable[[int, int], None]:
    step = 1  # log about every 10%, and the last one

    def report(done: int, total: int) -> None:
        nonlocal step
        if done == total or done >= step * total / 10:
            step = int(10 * done / total) + 1
            log.info(f"{what} {done}/{total} ({100 * done / total:.0f}%)")

    return report


@dg.asset(group_name="index", pool=LANCEDB_WRITE_POOL)
def chunk_embeddings(
    context: dg.AssetExecutionContext,
    source_documents: DocumentScan,
    document_chunks: list[Chunk],
    embedder: Embedder,
    vector_store: VectorStore,
) -> dg.MaterializeResult:
    """The LanceDB table of chunk vectors for the configured embedding model.

    Only chunk ids the table lacks are encoded; chunks no longer produced are deleted, except
    those of documents that exist but could not be read this time. New chunks are scanned by
    the ingest guardrails (`guardrails.yaml`): a chunk that reads like an instruction to the
    assistant is quarantined — kept, marked, listed here, and never retrieved.
    """
    result = sync_index(
        document_chunks,
        kept_documents=source_documents.kept_documents,
        embedder=embedder,
        store=vector_store,
        progress=log_progress(context.log, "encoded"),
        guardrails=Guardrails(load_guardrails_config(), embedder, vector_store),
    )
    quarantined = vector_store.quarantined_chunks(result.model_id)
    if result.quarantined:
        context.log.warning(
            f"{result.quarantined} new chunk(s) quarantined by the ingest guardrails: see the "
            "`quarantined_chunks` metadata"
        )
    return dg.MaterializeResult(
        metadata={
            "documents": float(len(source_documents.documents)),
            "skipped": float(len(source_documents.skipped)),
            "chunks": float(result.chunks),
            "embedded": float(result.embedded),
            "from_buckets": float(result.from_buckets),
            "reused": float(result.reused),
            "deleted": float(result.deleted),
            "quarantined_new": float(result.quarantined),
            "quarantined": float(len(quarantined)),
            "quarantined_chunks": dg.MetadataValue.md(quarantine_table(quarantined)),
            "table_version": float(result.table_version),
            "table": result.table,
            "lancedb_uri": vector_store.uri,
            "embedding_model": result.model_id,
            "ann_index": result.ann_index,
            "fts_index": result.fts_index,
            "encode_seconds": result.encode_seconds,
            "seconds": result.seconds,
        }
    )


@dg.asset(group_name="index", partitions_def=EMBED_BUCKETS)
def chunk_embedding_buckets(
    context: dg.AssetExecutionContext,
    document_chunks: list[Chunk],
    embedder: Embedder,
    vector_store: VectorStore,
) -> dg.MaterializeResult:
    """One hash bucket of the chunks not yet embedded, encoded into its own staging table.

    For a very large first ingest on a cluster: a backfill of the `embed_buckets` job runs the
    buckets in parallel (no `lancedb_write` slot is taken: each bucket writes only its own
    staging table), then `chunk_embeddings` commits their vectors in one version without
    encoding them again. Nothing is searchable until that commit.
    """
    buckets = len(EMBED_BUCKETS.get_partition_keys())
    result = stage_bucket(
        document_chunks,
        bucket=int(context.partition_key),
        buckets=buckets,
        embedder=embedder,
        store=vector_store,
        progress=log_progress(context.log, f"bucket {context.partition_key}: encoded"),
    )
    return dg.MaterializeResult(
        metadata={
            "bucket": f"{result.bucket} of {result.buckets}",
            "chunks": float(result.chunks),
            "staged": float(result.staged),
            "reused": float(result.reused),
            "staging_table": result.table,
            "embedding_model": result.model_id,
            "encode_seconds": result.encode_seconds,
        }
    )


def quarantine_table(chunks: list[dict[str, str]]) -> str:
    if not chunks:
        return "no quarantined chunk"
    rows = "\n".join(
        "| "
        + " | ".join(md_text(c[k]) for k in ("document", "chunk_id", "quarantine_reason"))
        + " |"
        for c in chunks
    )
    return "| document | chunk | reason |\n|---|---|---|\n" + rows


@dg.asset(group_name="index", pool=LANCEDB_WRITE_POOL, deps=[chunk_embeddings])
def production_context_index(
    context: dg.AssetExecutionContext,
    source_documents: DocumentScan,
    embedder: Embedder,
    vector_store: VectorStore,
    metadata_store: MetadataStore,
) -> dg.MaterializeResult:
    """The production context configuration's own index of the knowledge base, kept up to date
    with the main one, when that configuration chunks or embeds differently; otherwise the
    main table serves it and there is nothing to do."""
    record = production(metadata_store.get_client())
    if record is None:
        return dg.MaterializeResult(metadata={"serving": "no context registered: the main table"})
    spec = spec_of(record)
    used = context_embedder(spec, embedder)
    if context_index_id(spec, used) == embedder.model_id:
        return dg.MaterializeResult(metadata={"context": record.ref, "serving": "the main table"})
    knowledge_base = Benchmark("knowledge base", Path(source_documents.docs_dir), Path(), None)
    built = build_index(
        spec,
        knowledge_base,
        used,
        vector_store,
        progress=log_progress(context.log, f"{record.ref}: encoded"),
        scan=source_documents,
    )
    return dg.MaterializeResult(
        metadata={
            "context": record.ref,
            "serving": table_name(built.index_id),
            "chunks": float(built.chunks),
            "embedded": float(built.embedded),
            "reused": float(built.reused),
            "table_version": float(built.table_version),
            "seconds": built.build_seconds,
        }
    )


@dg.asset_check(
    asset=chunk_embeddings, description=f"ANN recall@10 against exact search ≥ {MIN_ANN_RECALL}"
)
def ann_recall_at_10(embedder: Embedder, vector_store: VectorStore) -> dg.AssetCheckResult:
    """Query the ANN index with stored vectors and compare with exact search."""
    model_id = embedder.model_id
    if not vector_store.has_table(model_id) or not vector_store.has_ann_index(model_id):
        return dg.AssetCheckResult(
            passed=True,
            metadata={"ann_index": "none yet: the table is searched exactly"},
        )
    recall = vector_store.ann_recall(model_id, sample=100, k=10)
    return dg.AssetCheckResult(
        passed=recall >= MIN_ANN_RECALL,
        metadata={"recall_at_10": recall, "threshold": MIN_ANN_RECALL, "sample": 100.0},
    )
