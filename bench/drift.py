"""Drift benchmark: our calibrated test beside the test it replaced, evidently's defaults and the
surface baseline, on held-out real trials and on the synthetic set.

Run from the project root: `make bench-drift` (installs the Debian packages it reads), or
`.venv/bin/python bench/drift.py [--trials N] [--sweep]`.

Real trials (`bench/drift_trials.py`, texts from `bench/drift_corpora.py`: man pages, the Python
3.11 library reference, Django's docs), 300 vs 300 texts, seeded: no drift; a style change (man
pages only: 30 % or all of the current window in the NAME-line register); 5 %, 10 % and 30 % of
the current window from topics absent in the reference. Pages are split once into `dev` and
`test`; the test's settings were chosen on `dev` (`--sweep` prints the candidates compared there)
and the verdict is on `test`. Each cell is "flagged/trials".

Then, on `test`: the shipped test's power by window size (100, 300, 1,000, 3,000 per window)
and new-topic share, where a source has enough texts; the synthetic windows of
`tests/support/drift_data.py`; and seconds per check on stored vectors at 1,000 and 10,000 per
window (windows synthesised from the pydocs test texts with replacement plus σ = 0.01 noise):
`compare_windows` (test, evidently's scores, emerging topics, surface), and the scheduled
`embedding_drift_report` asset reading LanceDB and writing evidently's HTML report.
Exits 1 if a target fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ALPHA = 0.05
SOURCES = ("man", "pydocs", "django")
KINDS = [  # name, trial kind, share, sources
    ("no drift", "none", 0.0, SOURCES),
    ("style 30%", "style", 0.30, ("man",)),
    ("style 100%", "style", 1.0, ("man",)),
    ("new 5%", "new", 0.05, SOURCES),
    ("new 10%", "new", 0.10, SOURCES),
    ("new 30%", "new", 0.30, SOURCES),
]
TARGETS = {"no drift": 0.05, "new 10%": 0.80, "new 30%": 0.95}
CURVE_SIZES = (100, 300, 1000, 3000)
CURVE_SHARES = (0.0, 0.05, 0.10, 0.30)
TARGET_SECONDS = 5.0  # compare_windows at 10,000 per window
TARGET_ASSET_SECONDS = 30.0
Method = Callable[[np.ndarray, np.ndarray, list[str], list[str], int], bool]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="test trials per source and kind")
    parser.add_argument("--dev-trials", type=int, default=10, help="dev trials per cell")
    parser.add_argument("--curve-trials", type=int, default=10, help="trials per curve cell")
    parser.add_argument("--sweep", action="store_true", help="print the dev candidates")
    parser.add_argument("--no-curve", action="store_true", help="skip the power curve")
    parser.add_argument("--no-timing", action="store_true", help="skip the 1k/10k timing")
    parser.add_argument("--no-dev", action="store_true", help="skip the dev table")
    parser.add_argument("--only-timing", action="store_true", help="only the 1k/10k timing")
    args = parser.parse_args(argv)
    if min(args.trials, args.dev_trials, args.curve_trials) < 1:
        parser.error("trial counts must be ≥ 1")
    return args


def shipped(**settings) -> Method:
    from llmops.monitoring.drift import detect_drift

    def run(ref, cur, _rt, _ct, seed):
        return detect_drift(ref, cur, seed=seed, with_evidently=False, **settings).drift

    return run


def candidate(test, **settings) -> Method:
    return lambda ref, cur, _rt, _ct, seed: test(ref, cur, seed, **settings) <= ALPHA


def aggregate(*tests: Method) -> Method:
    """Drift if any test rejects at alpha / len(tests) (each given the split level)."""
    return lambda *a: any(t(*a) for t in tests)


_EVIDENTLY: dict[str, object] = {}  # the last windows' scores, shared by the three methods


def evidently(field: str) -> Method:
    from llmops.monitoring.drift import evidently_scores

    def run(ref, cur, _rt, _ct, _seed) -> bool:
        key = (id(ref), id(cur))
        if _EVIDENTLY.get("key") != key:
            _EVIDENTLY.update(key=key, scores=evidently_scores(ref, cur))
        return getattr(_EVIDENTLY["scores"], field)

    return run


def surface(_ref, _cur, ref_texts, cur_texts, _seed) -> bool:
    from llmops.monitoring.drift import surface_baseline

    return surface_baseline(ref_texts, cur_texts).drift


def reported_methods() -> dict[str, Method]:
    from bench import drift_candidates as c

    return {
        "ours (MMD, shipped)": shipped(),
        "kNN purity (before)": candidate(c.knn_purity),
        "evidently model (default)": evidently("model_drift"),
        "evidently mmd": evidently("mmd_drift"),
        "evidently distance": evidently("distance_drift"),
        "surface": surface,
    }


def sweep_methods() -> dict[str, Method]:
    """The configurations compared on dev (the shipped one is MMD with bandwidth 1.0)."""
    from bench import drift_candidates as c
    from llmops.monitoring.drift import detect_drift

    def mmd_half(ref, cur, _rt, _ct, seed) -> bool:
        return detect_drift(ref, cur, seed=seed, with_evidently=False).p_value <= ALPHA / 2

    def schilling_half(ref, cur, _rt, _ct, seed) -> bool:
        return c.knn_share(ref, cur, seed, k=10, one_sided=False) <= ALPHA / 2

    return {
        **{f"mmd bandwidth={f}": shipped(bandwidth=f) for f in (0.25, 0.5, 1.0, 2.0)},
        **{
            f"novelty k={k} tail={t}": candidate(c.novelty_tail, k=k, tail=t)
            for k in (1, 3, 10)
            for t in (0.9, 0.95)
        },
        "novelty mean k=3": candidate(c.novelty_mean, k=3),
        "classifier cross-fit": candidate(c.classifier),
        **{f"kNN current share k={k}": candidate(c.knn_share, k=k) for k in (5, 10, 30)},
        "kNN same-window k=10 (Schilling)": candidate(c.knn_share, k=10, one_sided=False),
        "mmd + Schilling (α/2 each)": aggregate(mmd_half, schilling_half),
    }


def flag_rates(trials, methods: dict[str, Method]) -> dict[str, tuple[int, int]]:
    """method → (flagged, trials)."""
    counts = dict.fromkeys(methods, 0)
    for trial in trials:
        ref, cur = trial.windows()
        ref_texts, cur_texts = trial.texts()
        for name, method in methods.items():
            counts[name] += bool(method(ref, cur, ref_texts, cur_texts, trial.seed))
    return {m: (n, len(trials)) for m, n in counts.items()}


def build_trials(pools, split: str, size: int, n: int) -> dict[tuple[str, str], list]:
    """(kind name, source) → trials (a cell is left out when the pool is too small)."""
    from bench.drift_trials import make_trial

    cells = {}
    for name, kind, share, sources in KINDS:
        for source in sources:
            try:
                cells[name, source] = [
                    make_trial(pools[source, split], kind, share, size, seed) for seed in range(n)
                ]
            except ValueError as exc:
                print(f"  skipped {name} on {source}: {exc}")
    return cells


def print_table(title: str, cells, methods: dict[str, Method]) -> dict[str, dict[str, tuple]]:
    """Flag counts per method and kind (all sources summed), per source below; returns them."""
    print(f"\n{title}")
    started = time.perf_counter()
    per_cell = {key: flag_rates(trials, methods) for key, trials in cells.items()}
    names = [name for name, *_ in KINDS]
    totals: dict[str, dict[str, tuple[int, int]]] = {m: {} for m in methods}
    for m in methods:
        for name in names:
            hits = [per_cell[k][m] for k in per_cell if k[0] == name]
            if hits:
                totals[m][name] = (sum(h[0] for h in hits), sum(h[1] for h in hits))
    width = max(len(m) for m in methods) + 2
    header = f"{'method':<{width}}" + "".join(f"{n:>16}" for n in names)
    print(header)
    print("-" * len(header))
    for m in methods:
        row = "".join(_cell(totals[m].get(n)) for n in names)
        print(f"{m:<{width}}{row}")
    for source in SOURCES:
        print(f"  {source}:")
        for m in methods:
            row = "".join(_cell(per_cell.get((n, source), {}).get(m)) for n in names)
            print(f"  {m:<{width - 2}}{row}")
    print(f"({time.perf_counter() - started:.0f}s)")
    return totals


def _cell(count: tuple[int, int] | None) -> str:
    if count is None:
        return f"{'-':>16}"
    return f"{f'{count[0]}/{count[1]} {count[0] / count[1]:.0%}':>16}"


def rate(count: tuple[int, int]) -> float:
    return count[0] / count[1]


def power_curve(pools, n: int) -> dict[tuple[int, float], tuple[int, int]]:
    """The shipped test on `test`: (size, share) → (flagged, trials), all sources that fit."""
    from bench.drift_trials import make_trial

    method = shipped()
    curve: dict[tuple[int, float], tuple[int, int]] = {}
    used: dict[int, list[str]] = {}
    for size in CURVE_SIZES:
        for share in CURVE_SHARES:
            flagged = total = 0
            for source in SOURCES:
                try:
                    trials = [
                        make_trial(
                            pools[source, "test"], "new" if share else "none", share, size, s
                        )
                        for s in range(n)
                    ]
                except ValueError:
                    continue
                used.setdefault(size, [])
                if source not in used[size]:
                    used[size].append(source)
                hits = flag_rates(trials, {"ours": method})["ours"]
                flagged, total = flagged + hits[0], total + hits[1]
            if total:
                curve[size, share] = (flagged, total)
    print("\npower of the shipped test on test (no drift: false alarms; new x%: detection)")
    header = f"{'per window':>10}  {'sources':<20}" + "".join(
        f"{'no drift' if not s else f'new {s:.0%}':>16}" for s in CURVE_SHARES
    )
    print(header)
    print("-" * len(header))
    for size in CURVE_SIZES:
        row = "".join(_cell(curve.get((size, s))) for s in CURVE_SHARES)
        print(f"{size:>10}  {', '.join(used.get(size, [])):<20}{row}")
    return curve


def synthetic_table(trials_per_kind: int) -> None:
    """The labelled templated windows of tests/support/drift_data.py, 300 vs 300."""
    from bench.drift_trials import encoded
    from resources.embedder import Embedder
    from tests.support import drift_data

    kinds = [("no drift", "none", 0.0), ("paraphrase", "paraphrase", 0.0)] + [
        (f"new {s:.0%}", "new", s) for s in (0.05, 0.10, 0.30)
    ]
    trials = {
        name: [drift_data.sample_trial(kind, seed, size=300, share=share) for seed in range(n)]
        for name, kind, share in kinds
        for n in [trials_per_kind]
    }
    texts = sorted({q.text for ts in trials.values() for t in ts for q in t.reference + t.current})
    vectors = dict(zip(texts, encoded(texts, Embedder()), strict=True))
    methods = {k: v for k, v in reported_methods().items() if k not in ("evidently mmd", "surface")}
    print(
        f"\nsynthetic set (tests/support/drift_data.py), {trials_per_kind} trials per kind, "
        "300 vs 300"
    )
    width = max(len(m) for m in methods) + 2
    print(f"{'method':<{width}}" + "".join(f"{name:>16}" for name, _, _ in kinds))
    counts = {m: [] for m in methods}
    for name, _, _ in kinds:
        hits = dict.fromkeys(methods, 0)
        for seed, t in enumerate(trials[name]):
            ref = np.stack([vectors[q.text] for q in t.reference])
            cur = np.stack([vectors[q.text] for q in t.current])
            rt, ct = [q.text for q in t.reference], [q.text for q in t.current]
            for m, method in methods.items():
                hits[m] += bool(method(ref, cur, rt, ct, seed))
        for m in methods:
            counts[m].append((hits[m], len(trials[name])))
    for m in methods:
        print(f"{m:<{width}}" + "".join(_cell(c) for c in counts[m]))


def synth(
    rng: np.random.Generator, vectors: np.ndarray, texts: list[str], n: int
) -> tuple[np.ndarray, list[str]]:
    """n rows sampled with replacement, with σ = 0.01 noise, re-normalised."""
    idx = rng.integers(0, len(vectors), n)
    x = vectors[idx] + rng.normal(0, 0.01, (n, vectors.shape[1])).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), [texts[i] for i in idx]


def time_check(
    n: int, pools: dict[str, tuple[np.ndarray, list[str]]], seed: int
) -> tuple[float, float]:
    """Seconds of `compare_windows` and of the scheduled asset at n texts per window (10 % new
    topic in the current window)."""
    import tempfile
    from datetime import UTC, date, datetime, timedelta

    import dagster as dg
    import pyarrow as pa

    from assets.drift import embedding_drift_report
    from llmops.monitoring.drift import compare_windows
    from llmops.storage.metadata.records import QueryRecord
    from llmops.storage.metadata.rows import QueryLogRow
    from resources.embedder import Embedder
    from resources.vector_store import VectorStore, query_schema
    from tests.support.files import CORPUS
    from tests.support.indexing import materialize_index

    rng = np.random.default_rng(seed)
    ref, ref_texts = synth(rng, *pools["reference"], n)
    n_new = n // 10
    cur_a, texts_a = synth(rng, *pools["reference"], n - n_new)
    cur_b, texts_b = synth(rng, *pools["new"], n_new)
    cur, cur_texts = np.vstack([cur_a, cur_b]), texts_a + texts_b
    started = time.perf_counter()
    compare_windows(ref_texts, ref, cur_texts, cur, seed=seed)
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
            with resources["metadata_store"].get_client().session() as session:  # bulk: setup only
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
        f"  {n:>6} per window: compare_windows {statistics:.2f}s, scheduled check {seconds:.2f}s "
        f"(drift={meta['drift'].value}, "
        f"{meta['current_queries'].value:.0f} vs {meta['reference_queries'].value:.0f} queries, "
        f"{meta['emerging_topics'].value:.0f} emerging topics)"
    )
    return statistics, seconds


def timing(found) -> list[str]:
    """Seconds per check at 1,000 and 10,000 per window; the targets missed."""
    from bench.drift_trials import make_trial

    failed = []
    print("\n== seconds per check on stored vectors (synthesised windows, see docstring)")
    trial = make_trial(found["pydocs", "test"], "new", 0.1, 3000, 0)
    pool = trial.pool
    ref_rows = trial.reference
    new_rows = trial.current[trial.injected]
    pools_ = {
        "reference": (pool.vectors[ref_rows], [pool.texts[i].text for i in ref_rows]),
        "new": (pool.vectors[new_rows], [pool.texts[i].text for i in new_rows]),
    }
    for n in (1_000, 10_000):
        statistics, asset = time_check(n, pools_, seed=n)
        if n == 10_000 and statistics > TARGET_SECONDS:
            failed.append(f"compare_windows at {n}: {statistics:.1f}s > {TARGET_SECONDS}s")
        if asset > TARGET_ASSET_SECONDS:
            failed.append(f"scheduled check at {n}: {asset:.1f}s")
    return failed


def main(argv: list[str] | None = None) -> int:
    """Every table in one run; 1 if a target fails."""
    args = parse_args(argv)
    from bench.drift_trials import pools
    from resources.embedder import Embedder

    print("== machine")
    print(f"  {platform.platform()}, python {platform.python_version()}, cpus {os.cpu_count()}")
    started = time.perf_counter()
    found = pools(SOURCES, Embedder())
    print(f"\n== real texts (encoded once, cached): {time.perf_counter() - started:.0f}s")
    for (source, split), pool in found.items():
        topics = len({t.topic for t in pool.texts})
        print(f"  {source:>7} {split:<5} {len(pool.texts):>6} texts, {topics} topics")

    failed: list[str] = []
    if args.only_timing:
        failed += timing(found)
        print("\nresult:", "all targets met" if not failed else f"FAILED: {', '.join(failed)}")
        return 1 if failed else 0
    dev = {} if args.no_dev else build_trials(found, "dev", 300, args.dev_trials)
    if dev:
        print_table(
            f"== dev, {args.dev_trials} trials per source and kind, 300 vs 300"
            + (" (with the candidates compared)" if args.sweep else ""),
            dev,
            reported_methods() | (sweep_methods() if args.sweep else {}),
        )
    test = build_trials(found, "test", 300, args.trials)
    totals = print_table(
        f"== test, {args.trials} trials per source and kind, 300 vs 300 "
        "(no drift, style: false alarms; new x%: detection)",
        test,
        reported_methods(),
    )
    ours = totals["ours (MMD, shipped)"]
    for name, target in TARGETS.items():
        if rate(ours[name]) > target if target < 0.5 else rate(ours[name]) < target:
            failed.append(f"{name} at 300: {rate(ours[name]):.0%}")
    for name in ("style 30%", "style 100%"):
        man_none = flag_rates(test["no drift", "man"], {"o": shipped()})["o"]
        if rate(ours[name]) > rate(man_none) + 0.05:
            failed.append(f"{name} flagged more than man no-drift ({rate(man_none):.0%})")
    print(
        "target (ours at 300): "
        + ", ".join(f"{n} {'≤' if t < 0.5 else '≥'}{t:.0%}" for n, t in TARGETS.items())
        + "; style ≤ no drift"
    )

    if not args.no_curve:
        power_curve(found, args.curve_trials)
    synthetic_table(args.dev_trials)

    if not args.no_timing:
        failed += timing(found)
    print("\nresult:", "all targets met" if not failed else f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
