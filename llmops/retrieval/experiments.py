"""Context experiments: build a configuration's indexes, score retrieval, compare, gate.

One experiment is one context configuration version scored on every available benchmark
(a corpus and the eval set whose gold sources live in it): hit@1, hit@5 and MRR@5 per question
with 95% bootstrap intervals, query latency (encode + search) p50/p95, index size and build
time. Per-question scores are kept as Parquet, so the promotion gate can pair a candidate
with production question by question, as it does for prompts.
"""

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from llmops.answering.rag import RagSettings, above_floor
from llmops.config import Settings
from llmops.errors import InputError
from llmops.evaluation.evalsets import EvalCase, load_evalset
from llmops.evaluation.gate import GateResult, compare
from llmops.guardrails.config import load_guardrails_config
from llmops.guardrails.pipeline import Guardrails
from llmops.knowledge.chunking import chunk_documents
from llmops.knowledge.documents import DocumentScan, scan_documents
from llmops.knowledge.indexing import sync_index
from llmops.retrieval.context_registry import production as production_context
from llmops.retrieval.context_registry import resolve, spec_of
from llmops.retrieval.contexts import ContextSpec, index_id
from llmops.retrieval.metrics import bootstrap_mean, hit_at_k, reciprocal_rank_at_k
from llmops.retrieval.search import retrieve
from llmops.safepaths import inside
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import ContextVersion, QueryRecord
from resources.embedder import Embedder
from resources.vector_store import VectorStore

GATE_METRICS = ("hit@5", "mrr@5")
SCORED_DEPTH = 5
HELD_OUT = "test"  # the split reported and never tuned on: the gate does not read it


@dataclass(frozen=True)
class Benchmark:
    """A corpus and the eval set asked of it; `corpus` None is the assistant's own knowledge
    base, whose index with the default chunking is the main one. With `split`, only the
    questions tagged with it are asked (`dev` to choose settings on, `test` held out)."""

    name: str
    docs_dir: Path
    evalset: Path
    corpus: str | None
    split: str | None = None

    @property
    def available(self) -> bool:
        return self.docs_dir.is_dir() and self.evalset.is_file()

    def cases(self) -> list[EvalCase]:
        cases = load_evalset(self.evalset)
        return [c for c in cases if self.split is None or self.split in c.tags]


HELD_OUT_FAQS = ("django", "sqlalchemy")  # FAQ benchmarks, each as its `dev` and `test` split


def default_benchmarks(settings: Settings) -> list[Benchmark]:
    """The handbook eval set on the docs folder, the pydocs benchmark, and the `dev` and
    held-out `test` splits of the Django and SQLAlchemy FAQs (`make bench-corpus` builds
    every corpus)."""
    benchmarks = settings.home / "benchmarks"
    return [
        Benchmark("handbook", settings.docs_dir, settings.default_evalset, None),
        Benchmark(
            "pydocs", benchmarks / "pydocs", settings.evalsets_dir / "pydocs.jsonl", "pydocs"
        ),
        *(
            Benchmark(
                f"{faq}-{split}",
                benchmarks / faq,
                settings.evalsets_dir / f"{faq}.jsonl",
                faq,
                split,
            )
            for faq in HELD_OUT_FAQS
            for split in ("dev", HELD_OUT)
        ),
    ]


def context_embedder(spec: ContextSpec, base: Embedder) -> Embedder:
    """The embedder a configuration asks for: the base model on the configured backend."""
    if spec.embedder == base.backend:
        return base
    return Embedder(model_name=base.model_name, batch_size=base.batch_size, backend=spec.embedder)


def context_index_id(spec: ContextSpec, embedder: Embedder, corpus: str | None = None) -> str:
    return index_id(embedder.model_id, spec.chunking.settings, corpus)


def serving_settings(record: ContextVersion, base: Embedder) -> tuple[RagSettings, Embedder]:
    """What `llmops ask` and the service retrieve with under configuration `record`, and the
    embedder that encodes the question for it."""
    spec = spec_of(record)
    embedder = context_embedder(spec, base)
    settings = RagSettings(
        k=spec.retrieval.k,
        min_score=spec.retrieval.min_score,
        floor=spec.retrieval.floor,
        retrieval=spec.retrieval,
        index_id=context_index_id(spec, embedder),
        context=record.ref,
    )
    return settings, embedder


def serving_context(
    store: MetadataClient, base: Embedder, ref: str | None = None
) -> tuple[RagSettings, Embedder]:
    """The settings and embedder to retrieve with under context `ref` (NAME@VERSION, a label,
    ...), or the production configuration; the built-in defaults before any is registered."""
    record = resolve(store, ref) if ref else production_context(store)
    return serving_settings(record, base) if record else (RagSettings(), base)


def logged_context(
    store: MetadataClient, logged: QueryRecord, base: Embedder
) -> tuple[RagSettings, Embedder]:
    """What a logged query was retrieved with: its context configuration, or the built-in
    defaults for queries served before context configurations existed."""
    return serving_context(store, base, logged.context) if logged.context else (RagSettings(), base)


@dataclass(frozen=True)
class BuiltIndex:
    benchmark: str
    index_id: str
    chunks: int
    embedded: int
    reused: int
    table_version: int
    build_seconds: float
    size_bytes: int


def build_index(
    spec: ContextSpec,
    benchmark: Benchmark,
    embedder: Embedder,
    store: VectorStore,
    progress: Callable[[int, int], None] | None = None,
    scan: DocumentScan | None = None,
) -> BuiltIndex:
    """Bring the configuration's index of `benchmark` up to date, encoding only new chunks
    (`scan`: the benchmark's documents when already scanned)."""
    if spec.chunking.max_tokens > embedder.max_seq_length:
        raise InputError(
            f"context {spec.name}: chunking.max_tokens {spec.chunking.max_tokens} is more than "
            f"{embedder.model_id} reads ({embedder.max_seq_length}); the rest would be cut off"
        )
    started = time.perf_counter()
    scan = scan or scan_documents(benchmark.docs_dir)
    chunks = chunk_documents(scan.documents, embedder.tokenizer, spec.chunking.settings)
    key = context_index_id(spec, embedder, benchmark.corpus)
    result = sync_index(
        chunks,
        kept_documents=scan.kept_documents,
        embedder=embedder,
        store=store,
        progress=progress,
        guardrails=Guardrails(load_guardrails_config(), embedder, store),
        index_id=key,
    )
    return BuiltIndex(
        benchmark=benchmark.name,
        index_id=key,
        chunks=result.chunks,
        embedded=result.embedded,
        reused=result.reused,
        table_version=result.table_version,
        build_seconds=round(time.perf_counter() - started, 3),
        size_bytes=int(store.table(key).stats()["total_bytes"]),
    )


def score_questions(
    spec: ContextSpec,
    benchmark: Benchmark,
    embedder: Embedder,
    store: VectorStore,
    key: str,
) -> pd.DataFrame:
    """One row per question: hit@1, hit@5, mrr@5 (hits the similarity floor rejects do not
    count), the distinct documents of the top 5, whether the floor's abstain decision was right
    (abstain exactly when the question has no gold source), and the latency of encoding and
    searching it alone."""
    cases = benchmark.cases()
    settings = RagSettings(
        k=SCORED_DEPTH, min_score=spec.retrieval.min_score, floor=spec.retrieval.floor
    )
    depth = max(SCORED_DEPTH, spec.retrieval.k)
    retrieval = spec.retrieval.model_copy(update={"k": depth})
    retrieve(["warm-up"], embedder, store, k=depth, spec=retrieval, index_id=key)
    rows = []
    for case in cases:
        started = time.perf_counter()
        [found] = retrieve([case.question], embedder, store, k=depth, spec=retrieval, index_id=key)
        latency_ms = (time.perf_counter() - started) * 1000
        docs = [h.document for h in above_floor(found.hits, settings)]
        rows.append(
            {"benchmark": benchmark.name, "split": benchmark.split or "", "question_id": case.id}
            | retrieval_scores(docs, case.gold_sources)
            | {"abstention": float((not docs) != case.answerable), "latency_ms": latency_ms}
        )
    return pd.DataFrame(rows)


def retrieval_scores(documents: Sequence[str], gold: Sequence[str]) -> dict[str, float]:
    """hit@1, hit@5, MRR@5 and the distinct documents of the top 5, for ranked `documents`."""
    return {
        "hit@1": hit_at_k(documents, gold, 1),
        "hit@5": hit_at_k(documents, gold, SCORED_DEPTH),
        "mrr@5": reciprocal_rank_at_k(documents, gold, SCORED_DEPTH),
        "distinct@5": float(len(set(documents[:SCORED_DEPTH]))),
    }


@dataclass(frozen=True)
class BenchmarkScore:
    """One configuration on one benchmark; each metric is `[mean, low, high]`."""

    benchmark: str
    questions: int
    hit_at_1: list[float]
    hit_at_5: list[float]
    mrr_at_5: list[float]
    distinct_at_5: list[float]
    abstention: list[float]
    latency_p50_ms: float
    latency_p95_ms: float
    index: BuiltIndex


def summarize(frame: pd.DataFrame, built: BuiltIndex) -> BenchmarkScore:
    def estimate(column: str) -> list[float]:
        e = bootstrap_mean(frame[column].tolist())
        return [round(e.mean, 4), round(e.low, 4), round(e.high, 4)]

    latency = frame["latency_ms"].to_numpy()
    return BenchmarkScore(
        benchmark=built.benchmark,
        questions=len(frame),
        hit_at_1=estimate("hit@1"),
        hit_at_5=estimate("hit@5"),
        mrr_at_5=estimate("mrr@5"),
        distinct_at_5=estimate("distinct@5"),
        abstention=estimate("abstention"),
        latency_p50_ms=round(float(np.percentile(latency, 50)), 2),
        latency_p95_ms=round(float(np.percentile(latency, 95)), 2),
        index=built,
    )


@dataclass(frozen=True)
class Experiment:
    context: str  # NAME@VERSION
    spec: dict
    scores: list[BenchmarkScore]
    skipped: list[str]  # benchmarks whose corpus or eval set is missing, with the reason
    finished_at: float


def experiment_dir(reports_dir: Path, ref: str) -> Path:
    """Where the experiment of context version `ref` (NAME@VERSION) keeps its results."""
    return inside(reports_dir / "experiments", ref.replace("@", "_"), "context version")


def run_experiment(
    record: ContextVersion,
    benchmarks: Sequence[Benchmark],
    base_embedder: Embedder,
    store: VectorStore,
    reports_dir: Path,
    progress: Callable[[str], None] = lambda _: None,
) -> Experiment:
    """Build (or reuse) the configuration's index of every available benchmark, score it, and
    save `summary.json` and `per_question.parquet` under `reports/experiments/`."""
    spec = spec_of(record)
    embedder = context_embedder(spec, base_embedder)
    available = [b for b in benchmarks if b.available]
    skipped = [
        f"{b.name}: {b.docs_dir} or {b.evalset} is missing"
        + (" (run `make bench-corpus`)" if b.corpus else "")
        for b in benchmarks
        if not b.available
    ]
    if not available:
        raise InputError("no benchmark to run: " + "; ".join(skipped))
    frames, scores = [], []
    indexes: dict[tuple[Path, str | None], BuiltIndex] = {}  # splits share their corpus's index
    for benchmark in available:
        progress(f"{record.ref}: indexing {benchmark.name}")
        corpus = (benchmark.docs_dir, benchmark.corpus)
        if corpus not in indexes:
            indexes[corpus] = build_index(spec, benchmark, embedder, store)
        built = replace(indexes[corpus], benchmark=benchmark.name)
        progress(f"{record.ref}: {benchmark.name} index {built.index_id} ready, scoring")
        frame = score_questions(spec, benchmark, embedder, store, built.index_id)
        frames.append(frame)
        scores.append(summarize(frame, built))
    experiment = Experiment(record.ref, spec.model_dump(mode="json"), scores, skipped, time.time())
    folder = experiment_dir(reports_dir, record.ref)
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_parquet(folder / "per_question.parquet", index=False)
    (folder / "summary.json").write_text(json.dumps(asdict(experiment), indent=2))
    return experiment


def load_summaries(reports_dir: Path) -> list[dict]:
    """Every saved experiment's summary, newest first."""
    paths = sorted((reports_dir / "experiments").glob("*/summary.json"))
    summaries = [json.loads(p.read_text()) for p in paths]
    return sorted(summaries, key=lambda s: -s["finished_at"])


def comparison(summaries: Sequence[dict]) -> pd.DataFrame:
    """One row per configuration and benchmark; `pareto` marks the rows no other configuration
    on the same benchmark matches or beats on hit@5, MRR@5, latency p95 and index size at once
    while beating it on one of them."""
    rows = [
        {
            "context": s["context"],
            "benchmark": b["benchmark"],
            "mode": s["spec"]["retrieval"]["mode"],
            "embedder": s["spec"]["embedder"],
            "chunk_tokens": s["spec"]["chunking"]["max_tokens"],
            "hit@1": b["hit_at_1"][0],
            "hit@5": b["hit_at_5"][0],
            "hit@5_low": b["hit_at_5"][1],
            "hit@5_high": b["hit_at_5"][2],
            "mrr@5": b["mrr_at_5"][0],
            "distinct@5": b.get("distinct_at_5", [float("nan")])[0],
            "latency_p50_ms": b["latency_p50_ms"],
            "latency_p95_ms": b["latency_p95_ms"],
            "index_mb": round(b["index"]["size_bytes"] / 1e6, 2),
            "build_s": b["index"]["build_seconds"],
        }
        for s in summaries
        for b in s["scores"]
    ]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["pareto"] = [not _dominated(row, frame) for _, row in frame.iterrows()]
    return frame


def _dominated(row: pd.Series, frame: pd.DataFrame) -> bool:
    peers = frame[(frame.benchmark == row.benchmark) & (frame.context != row.context)]
    at_least = (
        (peers["hit@5"] >= row["hit@5"])
        & (peers["mrr@5"] >= row["mrr@5"])
        & (peers.latency_p95_ms <= row.latency_p95_ms)
        & (peers.index_mb <= row.index_mb)
    )
    better = (
        (peers["hit@5"] > row["hit@5"])
        | (peers["mrr@5"] > row["mrr@5"])
        | (peers.latency_p95_ms < row.latency_p95_ms)
        | (peers.index_mb < row.index_mb)
    )
    return bool((at_least & better).any())


def comparison_markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "no experiment yet"
    lines = [
        "| context | benchmark | mode | hit@5 [95% CI] | MRR@5 | distinct@5 | p95 ms | MB "
        "| Pareto |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in frame.sort_values(["benchmark", "hit@5"], ascending=[True, False]).iterrows():
        lines.append(
            f"| {r.context} | {r.benchmark} | {r['mode']} | {r['hit@5']:.3f} "
            f"[{r['hit@5_low']:.3f}, {r['hit@5_high']:.3f}] | {r['mrr@5']:.3f} "
            f"| {r['distinct@5']:.2f} "
            f"| {r.latency_p95_ms:.1f} | {r.index_mb:.1f} | {'**yes**' if r.pareto else ''} |"
        )
    return "\n".join(lines)


def per_question_scores(
    reports_dir: Path, ref: str, held_out: bool = False, metrics: Sequence[str] = GATE_METRICS
) -> dict[str, dict[str, float]] | None:
    """{metric: {benchmark:question_id: score}} of a saved experiment, or None; the held-out
    split's questions only with `held_out` (the gate never reads them)."""
    path = experiment_dir(reports_dir, ref) / "per_question.parquet"
    if not path.is_file():
        return None
    frame = pd.read_parquet(path)
    if not held_out and "split" in frame:
        frame = frame[frame["split"] != HELD_OUT]
    keys = frame.benchmark + ":" + frame.question_id
    return {m: dict(zip(keys, frame[m].astype(float), strict=True)) for m in metrics}


def gate_context(reports_dir: Path, candidate: str, production: str) -> GateResult:
    """The promotion gate on retrieval: candidate against production on the questions both
    experiments scored; fails when a whole 95% interval of a paired difference is below 0."""
    cand = per_question_scores(reports_dir, candidate)
    prod = per_question_scores(reports_dir, production)
    for ref, scores in ((candidate, cand), (production, prod)):
        if scores is None:
            raise InputError(f"no experiment of {ref}: run `llmops experiments run {ref}` first")
    return compare(cand, prod, baseline=production, metrics=GATE_METRICS)


def promotion_blocker(reports_dir: Path, candidate: str, production: str | None) -> str | None:
    """Why `candidate` may not become production, or None."""
    if production is None or production == candidate:
        return None
    try:
        result = gate_context(reports_dir, candidate, production)
    except InputError as exc:
        return str(exc)
    if not result.comparisons:
        return f"{candidate} and {production} were not scored on the same questions"
    if not result.passed:
        return f"the gate failed on {', '.join(result.failed_metrics)} against {production}"
    return None
