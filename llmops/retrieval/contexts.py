"""Context configurations: how the knowledge base is chunked, embedded and retrieved.

A file of `contexts/` (`LLMOPS_CONTEXTS_DIR`) holds one named configuration. Like a prompt,
its version is a hash of the validated content, so any change that alters what the assistant
sees is a new version, and the registry labels one version `production`.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmops.knowledge.chunking import ChunkerSettings
from llmops.yamlfile import VersionedSpec, load_named_files, parse_yaml

DEFAULT_CHUNKING = ChunkerSettings()


class ChunkingSpec(BaseModel):
    """Chunk size and overlap in the embedding model's word pieces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(256, ge=32, le=512)
    overlap_tokens: int = Field(32, ge=0)
    heading_context: bool = True

    @model_validator(mode="after")
    def _overlap(self) -> "ChunkingSpec":
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens ({self.overlap_tokens}) must be below max_tokens/2 "
                f"({self.max_tokens // 2})"
            )
        return self

    @property
    def settings(self) -> ChunkerSettings:
        return ChunkerSettings(self.max_tokens, self.overlap_tokens, self.heading_context)


FloorMode = Literal["each", "best"]

# Settings added after versions were stored, with the value that reproduces what those versions
# did: a file that leaves them at it keeps its version (they are left out of the hash).
_LEGACY_RETRIEVAL = {"floor": "each", "per_document": None}


class RetrievalSpec(BaseModel):
    """How passages are found: `vector` (cosine), `fts` (BM25 over the chunk text) or `hybrid`
    (both, fused by reciprocal rank); `rerank: cosine` re-orders the fused candidates by their
    cosine to the question; `per_document` caps the chunks one document may place in the top
    `k` (taken from the `candidates` best), so the passages come from more sources.

    `min_score` is the cosine floor. With `floor: best` it decides abstention: the assistant
    abstains when the best hit is under it, and otherwise keeps every hit (so an exact-name
    match that full-text search found is not dropped for a low cosine). With `floor: each`
    every hit under it is dropped, and the assistant abstains when none is left.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["vector", "fts", "hybrid"] = "vector"
    k: int = Field(5, ge=1, le=50)
    candidates: int = Field(20, ge=1, le=200)
    rrf_k: int = Field(60, ge=1)
    rerank: Literal["none", "cosine"] = "none"
    per_document: int | None = Field(None, ge=1)
    min_score: float = Field(0.35, ge=-1.0, le=1.0)
    floor: FloorMode = "each"

    @model_validator(mode="after")
    def _depth(self) -> "RetrievalSpec":
        if self.candidates < self.k:
            raise ValueError(f"candidates ({self.candidates}) must be at least k ({self.k})")
        return self


class ContextSpec(VersionedSpec):
    """One validated context configuration: what a `contexts/*.yaml` file must contain."""

    embedder: Literal["torch", "onnx-int8"] = "torch"
    chunking: ChunkingSpec = ChunkingSpec()
    retrieval: RetrievalSpec = RetrievalSpec()

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def canonical(self) -> str:
        """The hashed content, without retrieval settings left at their legacy value."""
        content = self.model_dump(mode="json")
        for key, legacy in _LEGACY_RETRIEVAL.items():
            if content["retrieval"][key] == legacy:
                del content["retrieval"][key]
        return json.dumps(content, sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class ContextFile:
    path: Path
    spec: ContextSpec


def parse_context(source: str, path: Path) -> ContextSpec:
    """Validate one context file's text; errors name the file, line and field."""
    return parse_yaml(source, path, ContextSpec, "a context configuration")


def load_context_files(folder: Path) -> list[ContextFile]:
    """Every `*.yaml` / `*.yml` of `folder`, validated; two files may not share a name."""
    return [
        ContextFile(path, spec)
        for path, _, spec in load_named_files(folder, ContextSpec, "context configuration")
    ]


def index_id(model_id: str, chunking: ChunkerSettings, corpus: str | None = None) -> str:
    """The vector table key of one corpus chunked one way and embedded with one model.

    The assistant's knowledge base (`corpus` None) with the default chunking is the main table
    that `llmops ingest` keeps; any other chunking or corpus gets a table of its own, so
    configurations never overwrite each other's vectors.
    """
    if corpus is None and chunking == DEFAULT_CHUNKING:
        return model_id
    digest = hashlib.sha256(chunking.fingerprint.encode()).hexdigest()[:8]
    return "-".join(p for p in (corpus, model_id, f"c{digest}") if p)
