"""An int8 ONNX Runtime copy of a local sentence-transformers model: exported, quantized and run.

The export is made here from the packaged weights (nothing comes from a hub), once per model:
the transformer plus mean pooling and L2 normalization is traced with `torch.onnx.export`, its
attention, GELU and layer norms are fused by ONNX Runtime's BERT optimizer, and its MatMul
weights are quantized to int8 per output channel (`quantize_dynamic`). The file is cached
under `$LLMOPS_HOME/models/<model_id>/` and written atomically, so a crash never leaves a
half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llmops.extras import needs_extra

BACKEND = "onnx-int8"
OPSET = 17
# Bump when the export recipe changes: the cached file name carries it, so old files are not reused.
RECIPE = "st-mean-norm/bert-fused/matmul-qint8-per-channel/v1"
DEFAULT_BATCH_SIZE = 16  # small batches pad less; int8 kernels gain little from large ones
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MODEL_FILES = ("modules.json", "config.json", "sentence_bert_config.json", "1_Pooling/config.json")


class OnnxExportError(RuntimeError):
    """The model cannot be exported to, or run by, the ONNX Runtime int8 backend."""


def cache_dir(model_id: str) -> Path:
    """Where the int8 export of `model_id` is kept: `$LLMOPS_HOME/models/<model_id>/`."""
    from llmops.config import Settings

    return Settings.from_env().home / "models" / model_id


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _check_pipeline(model_path: Path) -> int:
    """The model's `max_seq_length`, after checking it is Transformer → mean Pooling
    (→ Normalize): the one pipeline the exported graph reproduces."""
    modules = json.loads((model_path / "modules.json").read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m["type"].endswith(".Pooling")), None)
    config = _read_json(model_path / pooling["path"] / "config.json") if pooling else {}
    mean_only = config.get("pooling_mode_mean_tokens") is True and not any(
        v is True
        for k, v in config.items()
        if k.startswith("pooling_mode_") and "mean_tokens" not in k
    )
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or not mean_only:
        raise OnnxExportError(
            f"{model_path}: the {BACKEND} backend supports Transformer + mean Pooling "
            f"(+ Normalize) models only, not {kinds} with pooling {config}"
        )
    if modules[0].get("path", ""):
        raise OnnxExportError(f"{model_path}: the transformer must live at the model's root")
    st_config = _read_json(model_path / "sentence_bert_config.json")
    if st_config.get("do_lower_case"):
        raise OnnxExportError(f"{model_path}: do_lower_case models are not supported")
    max_seq_length = st_config.get("max_seq_length")
    if max_seq_length is None:
        raise OnnxExportError(f"{model_path}: sentence_bert_config.json has no max_seq_length")
    return int(max_seq_length)


def fingerprint(model_path: Path) -> str:
    """A short digest of the model's configuration, weight file sizes and the export recipe."""
    digest = hashlib.sha256(RECIPE.encode())
    for name in _MODEL_FILES:
        path = model_path / name
        digest.update(name.encode() + (path.read_bytes() if path.is_file() else b""))
    for path in sorted(model_path.glob("*.safetensors")) + sorted(model_path.glob("*.bin")):
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:12]


def _export_fp32(model_path: Path, target: Path) -> None:
    """Trace the transformer with mean pooling and L2 normalization to an fp32 ONNX file."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    class _SentenceEncoder(torch.nn.Module):
        def __init__(self, transformer: torch.nn.Module) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # Eager attention traces to the MatMul/Softmax pattern ONNX Runtime's optimizer fuses.
    transformer = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    sample = tokenizer(
        ["an example sentence to trace", "a second, somewhat longer example sentence to pad"],
        padding=True,
        return_tensors="pt",
        return_token_type_ids=True,
    )
    dynamic = {name: {0: "batch", 1: "sequence"} for name in _INPUTS}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _SentenceEncoder(transformer),
            tuple(sample[name] for name in _INPUTS),
            str(target),
            input_names=list(_INPUTS),
            output_names=["sentence_embedding"],
            dynamic_axes={**dynamic, "sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )


def _fuse(model_path: Path, source: Path, target: Path) -> None:
    """Fuse attention, GELU and layer norms (BERT-family graphs; others are left as they are)."""
    from transformers import AutoConfig

    with needs_extra("onnx"):
        from onnxruntime.transformers.optimizer import optimize_model

    config = AutoConfig.from_pretrained(str(model_path))
    heads = int(getattr(config, "num_attention_heads", 0) or 0)
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimized = optimize_model(
            str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        )
    optimized.save_model_to_file(str(target))


def _quantize(source: Path, target: Path) -> None:
    """int8 MatMul weights, one scale per output channel; activations quantized at run time."""
    import logging

    with needs_extra("onnx"):
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

    quantization_log = logging.getLogger()
    level = quantization_log.level
    quantization_log.setLevel(logging.ERROR)  # "consider pre-processing" advice on every call
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        quantization_log.setLevel(level)


_export_lock = threading.Lock()


def ensure_export(model_path: Path, folder: Path) -> Path:
    """The cached int8 ONNX file of the model at `model_path`, exported into `folder` if absent.

    Work happens in a temporary folder beside the target; only the finished file is renamed
    into place (atomic on one file system), so readers see a whole file or none.
    """
    _check_pipeline(model_path)
    target = folder / f"model-int8-{fingerprint(model_path)}.onnx"
    with _export_lock:
        if target.is_file():
            return target
        folder.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder))
        try:
            _export_fp32(model_path, work / "fp32.onnx")
            _fuse(model_path, work / "fp32.onnx", work / "fused.onnx")
            _quantize(work / "fused.onnx", work / "int8.onnx")
            os.replace(work / "int8.onnx", target)
        except Exception as exc:
            raise OnnxExportError(f"cannot export {model_path} to ONNX int8: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class OnnxInt8Model:
    """Runs the int8 export like a SentenceTransformer: same tokenizer, truncation, pooling and
    normalization, and the subset of its API the embedder uses."""

    def __init__(self, model_path: Path, onnx_path: Path) -> None:
        from transformers import AutoTokenizer

        with needs_extra("onnx"):
            import onnxruntime as ort

        self.onnx_path = onnx_path
        self.max_seq_length = _check_pipeline(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(
            str(model_path), model_max_length=self.max_seq_length
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle workers sleep instead of spinning: between runs the main thread tokenizes, and in
        # the service other threads (and torch) need the cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(onnx_path), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = [i.name for i in self.session.get_inputs()]
        self._dimension = int(self.session.get_outputs()[0].shape[-1])

    def get_embedding_dimension(self) -> int:
        return self._dimension

    def encode(
        self, sentences: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, **_: object
    ) -> np.ndarray:
        """Unit-length float32 vectors of `sentences`, in order; batches are formed after
        sorting by length, so each pads little."""
        vectors = np.zeros((len(sentences), self._dimension), dtype=np.float32)
        order = np.argsort([-len(s) for s in sentences], kind="stable")
        for start in range(0, len(sentences), batch_size):
            index = order[start : start + batch_size]
            encoded = self.tokenizer(
                [sentences[i] for i in index],
                padding=True,
                truncation="longest_first",
                max_length=self.max_seq_length,
                return_tensors="np",
                return_token_type_ids=True,
            )
            ids = encoded["input_ids"]
            feeds = {
                name: np.asarray(encoded.get(name, np.zeros_like(ids)), dtype=np.int64)
                for name in self._inputs
            }
            vectors[index] = self.session.run(None, feeds)[0]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def load(model_path: Path, folder: Path) -> OnnxInt8Model:
    """The int8 model of `model_path`, exported into `folder` (see `cache_dir`) on first use."""
    return OnnxInt8Model(model_path, ensure_export(model_path, folder))
