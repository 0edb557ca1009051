"""The real corpus and index assets and the ANN check, materialized in this process."""

from pathlib import Path

import dagster as dg

from assets import corpus, index
from resources.embedder import Embedder
from resources.vector_store import VectorStore

INDEX_ASSETS = [
    corpus.source_documents,
    corpus.document_chunks,
    index.chunk_embeddings,
    index.ann_recall_at_10,
]


def materialize_index(
    docs_dir: Path,
    embedder: Embedder,
    store: VectorStore,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
) -> tuple[dict, dg.ExecuteInProcessResult]:
    """Run the real corpus and index assets and the ANN check; return the index metadata."""
    result = dg.materialize(
        INDEX_ASSETS,
        resources={"embedder": embedder, "vector_store": store},
        run_config={
            "ops": {
                "source_documents": {"config": {"docs_dir": str(docs_dir)}},
                "document_chunks": {
                    "config": {"max_tokens": max_tokens, "overlap_tokens": overlap_tokens}
                },
            }
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("chunk_embeddings")[0].metadata
    return {key: value.value for key, value in metadata.items()}, result
