"""Embedder backends side by side: torch fp32 against ONNX Runtime int8, in one process.

Run from the project root: `.venv/bin/python bench/embedder.py [--docs DIR] [--repeats N]`.
Both backends encode the same chunks (the pipeline's chunker over `corpus/` by default) through
`Embedder.encode`. After one warm-up pass each, timed passes alternate between the backends so
that a noisy neighbour on the machine hits both alike; the median pass counts. The int8 export
is made in a temp `LLMOPS_HOME` and timed once. Exits 1 if a target fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

TARGET_SPEEDUP = 1.8
TARGET_MEAN_COSINE = 0.98


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=PROJECT_ROOT / "corpus", help="docs folder")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per backend")
    parser.add_argument("--keep", action="store_true", help="keep the temp LLMOPS_HOME")
    args = parser.parse_args(argv)
    if not args.docs.is_dir():
        parser.error(f"--docs: {args.docs} is not a folder")
    if args.repeats < 1:
        parser.error("--repeats must be positive")
    return args


def chunk_texts(docs_dir: Path, embedder) -> list[str]:
    """The embedding texts of `docs_dir`, chunked exactly as the pipeline's default config."""
    from llmops.knowledge.chunking import Chunker, ChunkerSettings
    from llmops.knowledge.documents import scan_documents

    chunker = Chunker(embedder.tokenizer, ChunkerSettings().capped(embedder.max_seq_length))
    documents = scan_documents(docs_dir).documents
    return [c.embedding_text for d in documents for c in chunker.chunk_document(d)]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def print_table(rows: list[tuple[str, str, str, bool | None]]) -> None:
    headers = ("metric", "measured", "target")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print()
    print(
        f"{headers[0]:<{widths[0]}}  {headers[1]:>{widths[1]}}  {headers[2]:<{widths[2]}}  result"
    )
    print("-" * (sum(widths) + 14))
    for metric, measured, target, ok in rows:
        result = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"{metric:<{widths[0]}}  {measured:>{widths[1]}}  {target:<{widths[2]}}  {result}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="llmops-bench-embedder-"))
    os.environ["LLMOPS_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return benchmark(args)
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


def benchmark(args: argparse.Namespace) -> int:
    import onnxruntime
    import torch

    from resources.embedder import Embedder

    fp32 = Embedder()
    int8 = Embedder(backend="onnx-int8")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    print(
        f"os.cpu_count={os.cpu_count()}, usable cores={affinity}, torch {torch.__version__} "
        f"threads={torch.get_num_threads()}, onnxruntime {onnxruntime.__version__}"
    )
    load_fp32 = timed(lambda: fp32.model)
    texts = chunk_texts(args.docs, fp32)
    tokens = [len(ids) for ids in fp32.tokenizer(texts, truncation=False)["input_ids"]]
    print(
        f"chunks={len(texts)} from {args.docs}; mean tokens/chunk={statistics.fmean(tokens):.1f} "
        f"(max {max(tokens)})"
    )

    export = timed(lambda: int8.model)
    onnx_path = int8.model.onnx_path
    print(f"torch model load: {load_fp32:.2f}s")
    print(
        f"onnx-int8 export + quantize + load (one-off): {export:.2f}s -> {onnx_path.name} "
        f"({onnx_path.stat().st_size / 2**20:.1f} MiB)"
    )
    print(f"batch sizes: torch {fp32.batch_size}, onnx-int8 {int8.onnx_batch_size}")

    vectors = {"torch": fp32.encode(texts), "onnx-int8": int8.encode(texts)}  # warm-up
    seconds: dict[str, list[float]] = {"torch": [], "onnx-int8": []}
    for repeat in range(args.repeats):
        for name, embedder in (("torch", fp32), ("onnx-int8", int8)):
            seconds[name].append(timed(lambda e=embedder: e.encode(texts)))
        print(
            f"pass {repeat + 1}: "
            + ", ".join(f"{n} {len(texts) / s[-1]:.1f} chunks/s" for n, s in seconds.items())
        )
    rate = {name: len(texts) / statistics.median(s) for name, s in seconds.items()}
    ratio = rate["onnx-int8"] / rate["torch"]
    pass_ratio = statistics.median(
        t / o for t, o in zip(seconds["torch"], seconds["onnx-int8"], strict=True)
    )
    cosines = np.sum(vectors["torch"] * vectors["onnx-int8"], axis=1)
    mean_cos, min_cos = float(cosines.mean()), float(cosines.min())
    print(f"model ids: {fp32.model_id} / {int8.model_id}")

    print_table(
        [
            ("torch fp32 chunks/s (median)", f"{rate['torch']:.1f}", "", None),
            ("onnx-int8 chunks/s (median)", f"{rate['onnx-int8']:.1f}", "", None),
            (
                "speed-up int8 / fp32",
                f"{ratio:.2f}x",
                f">= {TARGET_SPEEDUP}x",
                ratio >= TARGET_SPEEDUP,
            ),
            ("speed-up, median of per-pass ratios", f"{pass_ratio:.2f}x", "", None),
            (
                "mean cosine int8 vs fp32",
                f"{mean_cos:.4f}",
                f">= {TARGET_MEAN_COSINE}",
                mean_cos >= TARGET_MEAN_COSINE,
            ),
            ("min cosine int8 vs fp32", f"{min_cos:.4f}", "", None),
            ("one-off export + quantize", f"{export:.1f} s", "", None),
        ]
    )
    return 0 if ratio >= TARGET_SPEEDUP and mean_cos >= TARGET_MEAN_COSINE else 1


if __name__ == "__main__":
    sys.exit(main())
