"""Context configurations side by side on the pydocs benchmark and the handbook eval set.

Runs the experiments of `llmops experiments run` (indexes built or reused under
`$LLMOPS_HOME`) for vector, full-text and hybrid retrieval, with the fp32 and the int8 ONNX
embedder, then prints the comparison table and the paired differences against vector search
(95% bootstrap intervals over questions). Needs `make bench-corpus` for pydocs.

    python bench/context.py [NAME ...]   # only these configurations (the first is the baseline)
"""

import sys
import time

import pandas as pd

from llmops.config import Settings
from llmops.context_registry import register
from llmops.contexts import ContextFile, ContextSpec
from llmops.experiments import (
    comparison,
    comparison_markdown,
    default_benchmarks,
    load_summaries,
    per_question_scores,
    run_experiment,
)
from llmops.gate import paired_difference
from resources.embedder import Embedder
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore

DESCRIPTION = "bench/context.py"


def spec(name: str, mode: str, embedder: str = "torch", **retrieval) -> ContextSpec:
    return ContextSpec.model_validate(
        {
            "name": name,
            "description": DESCRIPTION,
            "embedder": embedder,
            "retrieval": {"mode": mode, **retrieval},
        }
    )


CONFIGS = [
    spec("bench-vector", "vector"),
    spec("bench-fts", "fts"),
    spec("bench-hybrid", "hybrid"),
    spec("bench-hybrid-rerank", "hybrid", rerank="cosine"),
    spec("bench-vector-nofloor", "vector", min_score=0.0),
    spec("bench-hybrid-nofloor", "hybrid", min_score=0.0),
    spec("bench-hybrid-k30", "hybrid", rrf_k=30, candidates=10),
    spec("bench-hybrid-k30-nofloor", "hybrid", rrf_k=30, candidates=10, min_score=0.0),
    spec("bench-hybrid-c10", "hybrid", candidates=10),
    spec("bench-vector-int8", "vector", embedder="onnx-int8"),
    spec("bench-hybrid-int8", "hybrid", embedder="onnx-int8"),
    spec("bench-vector-int8-nofloor", "vector", embedder="onnx-int8", min_score=0.0),
]


def main(names: list[str]) -> None:
    configs = [c for c in CONFIGS if not names or c.name in names]
    settings = Settings.from_env()
    store = MetadataStore(url=settings.database_url)
    vectors = VectorStore(uri=settings.lancedb_uri)
    embedder = Embedder()
    register([ContextFile(settings.contexts_dir / f"{c.name}.yaml", c) for c in configs], store)
    benchmarks = default_benchmarks(settings)
    for config in configs:
        record = store.context_version(config.name, config.version)
        started = time.perf_counter()
        experiment = run_experiment(record, benchmarks, embedder, vectors, settings.reports_dir)
        print(f"{record.ref}: {time.perf_counter() - started:.0f} s  {experiment.skipped or ''}")
    refs = {c.ref for c in configs}
    table = comparison([s for s in load_summaries(settings.reports_dir) if s["context"] in refs])
    print()
    print(comparison_markdown(table))
    baseline = per_question_scores(settings.reports_dir, configs[0].ref)
    rows = []
    for config in configs[1:]:
        scores = per_question_scores(settings.reports_dir, config.ref)
        for benchmark in sorted({k.split(":")[0] for k in baseline["hit@5"]}):
            for metric in ("hit@5", "mrr@5"):
                ids = [k for k in baseline[metric] if k.startswith(benchmark + ":")]
                diff, low, high = paired_difference(
                    [scores[metric][k] for k in ids], [baseline[metric][k] for k in ids]
                )
                rows.append(
                    {
                        "context": config.name,
                        "benchmark": benchmark,
                        "metric": metric,
                        "minus vector": round(diff, 4),
                        "95% CI": f"[{low:+.3f}, {high:+.3f}]",
                    }
                )
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main(sys.argv[1:])
