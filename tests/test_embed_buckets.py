"""Parallel embedding: hash-bucket runs stage vectors, one commit makes them the index."""

from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from assets import corpus, index
from llmops.knowledge.indexing import bucket_of
from resources.embedder import Embedder
from resources.vector_store import VectorStore, table_name
from tests.support.indexing import INDEX_ASSETS, materialize_index

ALL_ASSETS = [*INDEX_ASSETS, index.chunk_embedding_buckets]


def _run(
    selection: list,
    docs: Path,
    io_dir: Path,
    embedder: Embedder,
    store: VectorStore,
    partition_key: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `selection`, reading upstream outputs from one shared IO manager folder, as
    separate runs on a cluster would."""
    result = dg.materialize(
        ALL_ASSETS,
        selection=selection,
        partition_key=partition_key,
        resources={
            "embedder": embedder,
            "vector_store": store,
            "io_manager": dg.FilesystemIOManager(base_dir=str(io_dir)),
        },
        run_config={
            "ops": {
                "source_documents": {"config": {"docs_dir": str(docs)}},
                "document_chunks": {"config": {"max_tokens": 256, "overlap_tokens": 32}},
            }
        }
        if partition_key is None and corpus.source_documents in selection
        else None,
    )
    assert result.success
    return result


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict:
    materialization = result.asset_materializations_for_node(node)[0]
    return {k: v.value for k, v in materialization.metadata.items()}


def _rows(store: VectorStore, model_id: str) -> dict[str, np.ndarray]:
    table = store.table(model_id).to_arrow()
    vectors = np.stack(table.column("vector").to_numpy(zero_copy_only=False))
    return dict(zip(table.column("chunk_id").to_pylist(), vectors, strict=True))


def test_bucket_runs_then_one_commit_equal_a_clean_ingest(
    tmp_path: Path, docs: Path, embedder: Embedder
):
    store = VectorStore(uri=str(tmp_path / "lancedb"))
    io_dir = tmp_path / "io"
    _run([corpus.source_documents, corpus.document_chunks], docs, io_dir, embedder, store)

    buckets = index.EMBED_BUCKETS.get_partition_keys()
    staged = {}
    for key in buckets:
        result = _run([index.chunk_embedding_buckets], docs, io_dir, embedder, store, key)
        staged[key] = _metadata(result, "chunk_embedding_buckets")
    chunks = sum(m["chunks"] for m in staged.values())
    assert chunks > len(buckets)  # every bucket has something to do on average
    assert sum(m["staged"] for m in staged.values()) == chunks
    assert not store.has_table(embedder.model_id)  # nothing is searchable before the commit

    rerun = _run([index.chunk_embedding_buckets], docs, io_dir, embedder, store, buckets[0])
    assert _metadata(rerun, "chunk_embedding_buckets")["staged"] == 0  # resumes, no re-encode

    commit = _metadata(
        _run([index.chunk_embeddings], docs, io_dir, embedder, store), "chunk_embeddings"
    )
    assert commit["embedded"] == commit["from_buckets"] == chunks
    assert not [n for n in store.db.list_tables().tables if n.startswith("staged_")]

    clean_store = VectorStore(uri=str(tmp_path / "clean"))
    clean, _ = materialize_index(docs, embedder, clean_store)
    assert clean["from_buckets"] == 0
    bucketed, reference = _rows(store, embedder.model_id), _rows(clean_store, embedder.model_id)
    assert sorted(bucketed) == sorted(reference)
    assert len(store.table(embedder.model_id).to_arrow()) == len(reference)
    for chunk_id, vector in reference.items():
        np.testing.assert_allclose(bucketed[chunk_id], vector, atol=1e-5)
        assert 0 <= bucket_of(chunk_id, len(buckets)) < len(buckets)


def test_commit_encodes_what_no_bucket_staged(tmp_path: Path, docs: Path, embedder: Embedder):
    """Bucket 0 alone ran: the commit takes its vectors and encodes the other buckets' chunks."""
    store = VectorStore(uri=str(tmp_path / "lancedb"))
    io_dir = tmp_path / "io"
    _run([corpus.source_documents, corpus.document_chunks], docs, io_dir, embedder, store)
    only = _metadata(
        _run([index.chunk_embedding_buckets], docs, io_dir, embedder, store, "0"),
        "chunk_embedding_buckets",
    )
    commit = _metadata(
        _run([index.chunk_embeddings], docs, io_dir, embedder, store), "chunk_embeddings"
    )
    assert commit["from_buckets"] == only["staged"]
    assert commit["embedded"] == commit["chunks"] > only["staged"]
    assert commit["table"] == table_name(embedder.model_id)


def test_a_bucket_outside_the_partitions_is_refused(embedder: Embedder, tmp_path: Path):
    from llmops.knowledge.indexing import stage_bucket

    with pytest.raises(ValueError, match=r"not one of 0\.\.3"):
        stage_bucket([], 4, 4, embedder, VectorStore(uri=str(tmp_path / "lancedb")))
