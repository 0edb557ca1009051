"""Drift benchmark: our calibrated test, evidently defaults and the surface baseline side by side.

Run from the project root: `.venv/bin/python bench/drift.py [--trials N] [--size S]`.
Windows come from the labelled data in `tests/drift_data.py`; every text is encoded once with the
real MiniLM embedder. Per seeded trial (reference window of S vs current window of S): no drift,
paraphrase only, and a new topic injected at 5 %, 10 % and 30 %. Each method's flag rate per kind
is printed in one table (false alarms for "no drift" and "paraphrase", detection otherwise).

Timing, at 1,000 and 10,000 queries per window, of the scheduled check as it runs: the questions
are logged in a SQLite metadata store (two days), their vectors stored in LanceDB as the
`query_embeddings` asset leaves them, and the `embedding_drift_report` asset is materialized for
the second day (reading both windows, our test with evidently's scores, emerging topics with
knowledge-base coverage against the indexed handbook, the surface baseline, and evidently's HTML
report). The line above it times the statistics alone. Windows are synthesised by sampling the
labelled embeddings with replacement plus small Gaussian noise (σ = 0.01, re-normalised); texts
are sampled the same way. Exits 1 if a target fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

KINDS = [  # name, trial kind, injected share
    ("no drift", "none", 0.0),
    ("paraphrase", "paraphrase", 0.0),
    ("new 5%", "new", 0.05),
    ("new 10%", "new", 0.10),
    ("new 30%", "new", 0.30),
]
TARGETS = {"no drift": 0.05, "paraphrase": 0.05, "new 10%": 0.80, "new 30%": 0.95}
TARGET_SECONDS = 30.0
METHODS = ["ours", "evidently model (default)", "evidently mmd", "evidently distance", "surface"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="seeded trials per kind")
    parser.add_argument("--size", type=int, default=300, help="queries per window")
    parser.add_argument("--no-timing", action="store_true", help="skip the 1k/10k timing")
    args = parser.parse_args(argv)
    if args.trials < 1 or args.size < 10:
        parser.error("--trials must be ≥ 1 and --size ≥ 10")
    return args


def verdicts(trial, vectors: dict[str, np.ndarray], seed: int) -> dict[str, bool]:
    """Every method's drift verdict on one trial."""
    from llmops.drift import detect_drift, surface_baseline

    ref = np.stack([vectors[q.text] for q in trial.reference])
    cur = np.stack([vectors[q.text] for q in trial.current])
    result = detect_drift(ref, cur, seed=seed)
    surface = surface_baseline([q.text for q in trial.reference], [q.text for q in trial.current])
    ev = result.evidently
    return {
        "ours": result.drift,
        "evidently model (default)": ev.model_drift,
        "evidently mmd": ev.mmd_drift,
        "evidently distance": ev.distance_drift,
        "surface": surface.drift,
    }


def synth(
    rng: np.random.Generator, vectors: np.ndarray, texts: list[str], n: int
) -> tuple[np.ndarray, list[str]]:
    """n rows sampled with replacement, with σ = 0.01 noise, re-normalised."""
    idx = rng.integers(0, len(vectors), n)
    x = vectors[idx] + rng.normal(0, 0.01, (n, vectors.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), [texts[i] for i in idx]


def time_check(n: int, pools: dict[str, tuple[np.ndarray, list[str]]], seed: int) -> float:
    """Seconds for one scheduled check at n queries per window (10 % new topic in current)."""
    import tempfile
    from datetime import UTC, date, datetime, timedelta

    import dagster as dg
    import pyarrow as pa

    from assets.drift import embedding_drift_report
    from llmops.drift import detect_drift, emerging_topics, surface_baseline
    from resources.embedder import Embedder
    from resources.metadata_store import QueryLogRow, QueryRecord
    from resources.vector_store import VectorStore, query_schema
    from tests.conftest import CORPUS, materialize_index

    rng = np.random.default_rng(seed)
    ref, ref_texts = synth(rng, *pools["reference"], n)
    n_new = n // 10
    cur_a, texts_a = synth(rng, *pools["reference"], n - n_new)
    cur_b, texts_b = synth(rng, *pools["new"], n_new)
    cur, cur_texts = np.vstack([cur_a, cur_b]), texts_a + texts_b
    started = time.perf_counter()
    detect_drift(ref, cur, seed=seed)
    emerging_topics(ref, cur, cur_texts, seed=seed)
    surface_baseline(ref_texts, cur_texts)
    statistics = time.perf_counter() - started

    day = date(2026, 11, 20)
    with tempfile.TemporaryDirectory() as home:
        os.environ.update(
            LLMOPS_HOME=home, LLMOPS_DRIFT_WINDOW_DAYS="1", LLMOPS_DRIFT_REFERENCE="previous"
        )
        from llmops.config import Settings
        from pipelines.definitions import build_resources

        resources = build_resources(Settings.from_env())
        embedder: Embedder = resources["embedder"]
        lancedb: VectorStore = resources["vector_store"]
        materialize_index(CORPUS, embedder, lancedb)
        for offset, vectors, texts in ((1, ref, ref_texts), (0, cur, cur_texts)):
            asked = day - timedelta(days=offset)
            records = [
                QueryRecord(
                    question=t,
                    answer="",
                    prompt_name="answer",
                    prompt_version="v",
                    table_name="t",
                    table_version=1,
                    embedding_model=embedder.model_id,
                    chat_model="c",
                    created_at=datetime(asked.year, asked.month, asked.day, 12, tzinfo=UTC),
                )
                for t in texts
            ]
            with resources["metadata_store"].session() as session:  # bulk: setup only
                session.add_all(
                    QueryLogRow(**{**r.__dict__, "chunks": [], "guardrails": []}) for r in records
                )
            lancedb.upsert_query_vectors(
                embedder.model_id,
                pa.table(
                    {
                        "query_id": [r.query_id for r in records],
                        "day": [asked] * len(records),
                        "question": texts,
                        "vector": list(vectors.astype(np.float32)),
                    },
                    schema=query_schema(embedder.dimension),
                ),
            )
        started = time.perf_counter()
        result = dg.materialize(
            [embedding_drift_report], partition_key=day.isoformat(), resources=resources
        )
        seconds = time.perf_counter() - started
    meta = result.asset_materializations_for_node("embedding_drift_report")[0].metadata
    print(
        f"  {n:>6} per window: {seconds:.2f}s scheduled check "
        f"(statistics alone {statistics:.2f}s; drift={meta['drift'].value}, "
        f"{meta['current_queries'].value:.0f} vs {meta['reference_queries'].value:.0f} queries, "
        f"{meta['emerging_topics'].value:.0f} emerging topics)"
    )
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Run every trial, print the table and the timings; 1 if a target fails."""
    args = parse_args(argv)
    from resources.embedder import Embedder
    from tests import drift_data

    print("== machine")
    print(f"  {platform.platform()}, python {platform.python_version()}, cpus {os.cpu_count()}")
    trials = {
        name: [
            drift_data.sample_trial(kind, seed, size=args.size, share=share)
            for seed in range(args.trials)
        ]
        for name, kind, share in KINDS
    }
    texts = sorted({q.text for ts in trials.values() for t in ts for q in t.reference + t.current})
    print(f"\n== encoding {len(texts)} distinct texts once (MiniLM)")
    started = time.perf_counter()
    embedder = Embedder()
    vectors = dict(zip(texts, embedder.encode(texts), strict=True))
    print(f"  {time.perf_counter() - started:.1f}s")

    print(f"\n== {args.trials} seeded trials per kind, {args.size} vs {args.size} queries")
    rates: dict[str, dict[str, float]] = {}
    for name, _, _ in KINDS:
        started = time.perf_counter()
        flags = [verdicts(t, vectors, seed) for seed, t in enumerate(trials[name])]
        rates[name] = {m: float(np.mean([f[m] for f in flags])) for m in METHODS}
        print(f"  {name}: {time.perf_counter() - started:.1f}s")

    width = max(len(m) for m in METHODS)
    print("\nflag rate (no drift / paraphrase: false alarms; new x%: detection)")
    header = f"{'method':<{width}}" + "".join(f"  {name:>10}" for name, _, _ in KINDS)
    print(header)
    print("-" * len(header))
    for m in METHODS:
        row = "".join(f"  {rates[name][m]:>10.0%}" for name, _, _ in KINDS)
        print(f"{m:<{width}}{row}")
    target_row = "".join(
        f"  {('≤' if TARGETS[n] < 0.5 else '≥') + format(TARGETS[n], '.0%'):>10}"
        if n in TARGETS
        else f"  {'-':>10}"
        for n, _, _ in KINDS
    )
    print(f"{'target (ours)':<{width}}{target_row}")

    failed = [
        n
        for n, target in TARGETS.items()
        if (rates[n]["ours"] > target if target < 0.5 else rates[n]["ours"] < target)
    ]
    if not args.no_timing:
        print("\n== seconds per scheduled check (synthesised windows, see docstring)")
        ref_pool = drift_data.reference_pool()
        new_pool = [q for t in drift_data.NEW_TOPICS for q in drift_data.new_topic_pool(t)]
        pools = {}
        for key, pool in (("reference", ref_pool), ("new", new_pool)):
            known = [q.text for q in pool if q.text in vectors]
            pools[key] = (np.stack([vectors[t] for t in known]), known)
        for n in (1_000, 10_000):
            if time_check(n, pools, seed=n) > TARGET_SECONDS:
                failed.append(f"{n} per window > {TARGET_SECONDS:.0f}s")
    print("\nresult:", "all targets met" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
