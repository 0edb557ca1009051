"""Corpus stage: which documents the knowledge base holds, and the chunks they split into."""

from pathlib import Path

import dagster as dg

from llmops.config import Settings
from llmops.knowledge.chunking import Chunk, ChunkerSettings, chunk_documents
from llmops.knowledge.documents import DocumentScan, scan_documents
from llmops.markdown import md_text
from resources.embedder import Embedder


class CorpusConfig(dg.Config):
    docs_dir: str | None = None
    """Folder to index; unset means `LLMOPS_DOCS_DIR` (default `corpus/`)."""


class ChunkingConfig(dg.Config):
    max_tokens: int = 256
    """Chunk size in the embedding model's word pieces, capped at what the model reads."""
    overlap_tokens: int = 32


def _skipped_table(scan: DocumentScan) -> dg.MetadataValue:
    rows = "\n".join(f"| {md_text(s.path)} | {md_text(s.reason)} |" for s in scan.skipped)
    return dg.MetadataValue.md(f"| file | reason |\n|---|---|\n{rows}" if rows else "none")


@dg.asset(group_name="corpus")
def source_documents(
    context: dg.AssetExecutionContext, config: CorpusConfig
) -> dg.Output[DocumentScan]:
    """Every Markdown, text and HTML file of the docs folder with its content hash.

    Files that cannot be read are listed with the reason instead of failing the run.
    """
    scan = scan_documents(
        Path(config.docs_dir) if config.docs_dir else Settings.from_env().docs_dir
    )
    for skipped in scan.skipped:
        context.log.warning(f"skipped {skipped.path}: {skipped.reason}")
    return dg.Output(
        scan,
        metadata={
            "docs_dir": scan.docs_dir,
            "documents": float(len(scan.documents)),
            "skipped": float(len(scan.skipped)),
            "bytes": float(sum(d.size for d in scan.documents)),
            "skipped_files": _skipped_table(scan),
        },
    )


@dg.asset(group_name="corpus")
def document_chunks(
    config: ChunkingConfig, source_documents: DocumentScan, embedder: Embedder
) -> dg.Output[list[Chunk]]:
    """Token-bounded chunks of every document, with stable ids and heading trails."""
    settings = ChunkerSettings(config.max_tokens, config.overlap_tokens).capped(
        embedder.max_seq_length
    )
    chunks = chunk_documents(source_documents.documents, embedder.tokenizer, settings)
    tokens = [c.token_count for c in chunks] or [0]
    return dg.Output(
        chunks,
        metadata={
            "chunks": float(len(chunks)),
            "chunker": settings.fingerprint,
            "tokenizer_model": embedder.model_id,
            "mean_tokens": float(sum(tokens) / len(tokens)),
            "max_tokens": float(max(tokens)),
            "model_max_tokens": float(embedder.max_seq_length),
        },
    )
