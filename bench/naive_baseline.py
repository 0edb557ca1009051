"""The naive retrieval pipeline every context configuration must beat, on the same benchmarks.

What a new user builds in an afternoon: each document's text cut into windows of 200 words
with 40 words of overlap (no headings, no token counting), encoded with the same MiniLM, and
searched exactly (cosine over every window, no index, no floor, so it never abstains). It is
scored like a context experiment (hit@1, hit@5, MRR@5, distinct documents in the top 5, per
question and with 95% bootstrap intervals) and saved as the experiment `naive-baseline` under
`$LLMOPS_HOME/reports/experiments/`, so `llmops experiments list` and `bench/context.py` show it
beside every configuration. Window vectors are cached under `$LLMOPS_HOME/bench/naive/`.

    python bench/naive_baseline.py
"""

import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from llmops.config import Settings
from llmops.knowledge.documents import scan_documents
from llmops.retrieval.experiments import (
    Benchmark,
    BuiltIndex,
    Experiment,
    default_benchmarks,
    experiment_dir,
    retrieval_scores,
    summarize,
)
from resources.embedder import Embedder

NAME = "naive-baseline"
WINDOW_WORDS = 200
OVERLAP_WORDS = 40
SPEC = {
    "name": NAME,
    "description": f"{WINDOW_WORDS}-word windows, {OVERLAP_WORDS} words overlap, exact cosine",
    "embedder": "torch",
    "chunking": {"max_tokens": f"{WINDOW_WORDS} words", "overlap_tokens": OVERLAP_WORDS},
    "retrieval": {"mode": "naive", "k": 5},
}


def windows(text: str, size: int = WINDOW_WORDS, overlap: int = OVERLAP_WORDS) -> list[str]:
    """`text` as windows of `size` words, each starting `size - overlap` words after the last;
    the last window ends at the last word."""
    words = text.split()
    step = size - overlap
    starts = range(0, max(len(words) - overlap, 1), step)
    return [" ".join(words[s : s + size]) for s in starts]


def window_index(docs_dir: Path, embedder: Embedder, cache: Path) -> tuple[list[str], np.ndarray]:
    """The document of every window of `docs_dir`, and the windows' unit vectors (cached by
    content and model)."""
    pairs = [
        (doc.path, window)
        for doc in scan_documents(docs_dir).documents
        for window in windows(doc.text)
    ]
    digest = hashlib.sha256(embedder.model_id.encode())
    for path, window in pairs:
        digest.update(f"{path}\0{window}\0".encode())
    target = cache / f"{digest.hexdigest()[:16]}.npy"
    if target.is_file():
        vectors = np.load(target)
    else:
        vectors = embedder.encode([w for _, w in pairs]).astype(np.float32)
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, vectors)
    return [p for p, _ in pairs], vectors


def score(benchmark: Benchmark, embedder: Embedder, cache: Path) -> tuple[pd.DataFrame, BuiltIndex]:
    """One row per question of `benchmark`, like a context experiment's."""
    started = time.perf_counter()
    documents, vectors = window_index(benchmark.docs_dir, embedder, cache)
    built = BuiltIndex(
        benchmark=benchmark.name,
        index_id=f"{NAME}:{benchmark.corpus or 'handbook'}",
        chunks=len(documents),
        embedded=len(documents),
        reused=0,
        table_version=0,
        build_seconds=round(time.perf_counter() - started, 3),
        size_bytes=int(vectors.nbytes),
    )
    rows = []
    for case in benchmark.cases():
        began = time.perf_counter()
        query = embedder.encode([case.question])[0]
        best = np.argsort(-(vectors @ query), kind="stable")[:5]
        latency_ms = (time.perf_counter() - began) * 1000
        ranked = [documents[i] for i in best]
        rows.append(
            {"benchmark": benchmark.name, "split": benchmark.split or "", "question_id": case.id}
            | retrieval_scores(ranked, case.gold_sources)
            | {"abstention": float(case.answerable), "latency_ms": latency_ms}  # never abstains
        )
    return pd.DataFrame(rows), built


def run(settings: Settings, embedder: Embedder) -> Experiment:
    """Score the baseline on every available benchmark and save it as an experiment."""
    benchmarks = default_benchmarks(settings)
    cache = settings.home / "bench" / "naive"
    frames, scores = [], []
    for benchmark in (b for b in benchmarks if b.available):
        frame, built = score(benchmark, embedder, cache)
        frames.append(frame)
        scores.append(summarize(frame, built))
    skipped = [f"{b.name}: not built" for b in benchmarks if not b.available]
    experiment = Experiment(NAME, SPEC, scores, skipped, time.time())
    folder = experiment_dir(settings.reports_dir, NAME)
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_parquet(folder / "per_question.parquet", index=False)
    (folder / "summary.json").write_text(json.dumps(asdict(experiment), indent=2))
    return experiment


def main() -> None:
    experiment = run(Settings.from_env(), Embedder())
    for s in experiment.scores:
        print(
            f"{NAME} {s.benchmark}: hit@5 {s.hit_at_5[0]:.3f} [{s.hit_at_5[1]:.3f}, "
            f"{s.hit_at_5[2]:.3f}]  MRR@5 {s.mrr_at_5[0]:.3f}  distinct@5 {s.distinct_at_5[0]:.2f}"
            f"  ({s.index.chunks} windows)"
        )
    if experiment.skipped:
        print("skipped:", "; ".join(experiment.skipped), file=sys.stderr)


if __name__ == "__main__":
    main()
