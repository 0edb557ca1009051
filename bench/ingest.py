"""Ingest and search benchmark: the real `reindex` Dagster job, in one process.

Run from the project root: `.venv/bin/python bench/ingest.py [--chunks N] [--docs DIR]
[--queries Q]`. Without `--docs` a reproducible synthetic handbook of at least N chunks is
generated into a temp folder; with `--docs` the folder is copied there first (the 1 % change
step rewrites files). All state (LanceDB, Dagster) lives in a temp `LLMOPS_HOME`.

Measured, in order: bare `model.encode` on the exact chunk texts, full ingest, bare encode
again, a 1 % incremental re-ingest, a no-change re-ingest, and per-query search latency.
Exits 1 if any target fails.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

SEED = 20260101
TARGET_RATIO = 0.85
TARGET_INCREMENTAL_SHARE = 0.15
TARGET_P95_MS = 50.0
TARGET_ANN_RECALL = 0.95
CHANGED_SHARE = 0.01
WARMUP_QUERIES = 5
SEARCH_K = 10

# --------------------------------------------------------------------------------------------
# Synthetic handbook vocabulary
# --------------------------------------------------------------------------------------------

TOPICS: dict[str, tuple[list[str], list[str]]] = {
    "leave": (
        ["Annual Leave", "Sick Leave", "Parental Leave", "Sabbaticals", "Compassionate Leave",
         "Time Off in Lieu", "Public Holidays", "Jury Service", "Volunteering Days",
         "Unpaid Leave"],
        ["leave requests", "absence records", "doctor's notes", "carry-over balances",
         "holiday bookings", "return-to-work forms"],
    ),
    "expenses": (
        ["Meal Allowances", "Corporate Cards", "Mileage Claims", "Client Entertainment",
         "Receipts", "Per Diems", "Home Office Equipment", "Training Costs"],
        ["expense claims", "itemised receipts", "mileage logs", "card statements",
         "hospitality forms", "purchase orders"],
    ),
    "travel": (
        ["Flight Bookings", "Hotel Stays", "Rail Travel", "Visas and Permits",
         "International Trips", "Travel Insurance", "Car Hire"],
        ["flight bookings", "hotel reservations", "visa applications", "travel itineraries",
         "rail tickets", "risk assessments"],
    ),
    "it-security": (
        ["Passwords and MFA", "Laptop Encryption", "Phishing", "Remote Access",
         "Removable Media", "Data Classification", "Lost Devices", "Software Installation"],
        ["passwords", "laptops", "access requests", "security incidents", "phishing reports",
         "USB devices", "VPN credentials"],
    ),
    "onboarding": (
        ["First Week", "Buddy Programme", "Probation", "Equipment Setup", "Mandatory Training",
         "Induction Sessions"],
        ["induction checklists", "buddy assignments", "equipment orders", "probation reviews",
         "training plans", "welcome packs"],
    ),
    "benefits": (
        ["Pension Scheme", "Private Health Insurance", "Cycle to Work", "Wellbeing Allowance",
         "Life Assurance", "Employee Assistance", "Gym Membership"],
        ["pension contributions", "health insurance claims", "cycle-to-work applications",
         "wellbeing allowances", "life assurance nominations", "gym subsidies"],
    ),
    "workplace": (
        ["Desk Booking", "Visitors", "Parking", "Meeting Rooms", "First Aid", "Office Access",
         "Quiet Zones"],
        ["desk bookings", "visitor passes", "parking permits", "meeting room bookings",
         "first-aid reports", "locker keys"],
    ),
}  # fmt: skip

SLOTS: dict[str, list[str]] = {
    "role": ["employees", "contractors", "line managers", "new starters", "team leads",
             "part-time staff", "interns", "heads of department", "remote workers",
             "fixed-term employees"],
    "system": ["Rota", "Expensify", "the HR portal", "Workday", "the IT service desk",
               "the travel portal", "Okta", "the finance inbox", "Jira Service Management",
               "the People Team mailbox"],
    "approver": ["your line manager", "the Head of Department", "the Finance Director",
                 "the People Team", "the Security Officer", "the budget holder",
                 "an HR Business Partner", "the Chief Operating Officer"],
    "office": ["Leeds", "Lisbon", "Austin", "Dublin", "Berlin", "Toronto", "Singapore",
               "Melbourne"],
    "timing": ["before the end of the month", "within five working days",
               "at least two weeks in advance", "by the last Friday of each quarter",
               "no later than 30 days after the event", "before anything is booked",
               "on the first day of employment", "as soon as reasonably possible"],
    "condition": ["the amount exceeds the usual limit", "the trip includes a weekend",
                  "you work compressed hours", "the request overlaps a blackout period",
                  "a receipt has been lost", "the device holds confidential data",
                  "you are still on probation", "the booking is made through an agent",
                  "the absence lasts longer than a week", "your contract started mid-year"],
    "verb": ["submit", "review", "approve", "record", "update", "report", "archive", "renew",
             "cancel", "confirm"],
    "verbed": ["submitted", "reviewed", "approved", "recorded", "updated", "reported",
               "archived", "renewed", "confirmed"],
    "situation": ["travel more than twice a month", "manage a team of five or more",
                  "work across two time zones", "joined within the last three months",
                  "hold a company credit card", "handle customer data",
                  "work from home most days", "are returning from long-term leave"],
    "consequence": ["withdrawal of card privileges", "a formal disciplinary process",
                    "the claim being rejected", "loss of remote-access rights",
                    "a mandatory refresher course", "recovery of the amount through payroll"],
    "circumstance": ["a family emergency", "a cancelled flight", "a medical appointment abroad",
                     "a house move", "a bereavement", "severe weather", "a school closure"],
    "period": ["day", "night", "week", "month", "quarter", "leave year", "trip"],
    "month": ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"],
    "currency": ["£", "€", "$"],
}  # fmt: skip

SENTENCES = [
    "{Role} must {verb} {object} in {system} {timing}.",
    "If {condition}, {approver} has to {verb} the request before anything is paid or booked.",
    "{Object} that are not {verbed} {timing} are escalated automatically to {approver}.",
    "In {office}, {role} may claim up to {amount} per {period} for {object}, provided "
    "{condition2}.",
    "{System} keeps a copy of all {object} for {years} years so that internal audit can check "
    "them.",
    "This rule does not apply to {role}, who follow the local arrangements agreed for {office}.",
    "Where {condition}, please contact {approver} and explain the reason in the notes field.",
    "Any exception must be approved in writing by {approver} and logged in {system}.",
    "We review this section every {months} months; the last review found {n} open questions "
    "about {object}.",
    "{Role} who {situation} should read the guidance on {subject} before they {verb} anything.",
    "A late submission of more than {n} days is only accepted with a short explanation from "
    "{approver}.",
    "The allowance is {amount} for full-time staff and is pro-rated for {role} on reduced hours.",
    "Questions about {object} go to {system}; the usual response time is {n} working days.",
    "Do not share {object} by email or chat, and never keep copies on personal devices.",
    "From {month} {year}, {object} must include the cost centre and a project code.",
    "Repeated breaches of this policy may lead to {consequence}.",
    "{Approver} can grant up to {n} extra days in exceptional circumstances, such as "
    "{circumstance}.",
    "For {subject}, {role} in {office} use {system} rather than the old paper forms.",
    "When {condition}, keep the confirmation email: {approver} may ask for it during the "
    "{month} audit.",
    "Up to {amount} can be reimbursed without a receipt, but only once per {period}.",
]

SECTIONS = [
    "Purpose and scope", "Who this applies to", "How to request {subject}", "Approval rules",
    "Limits and allowances", "Record keeping", "Exceptions", "Rules for the {office} office",
    "Frequently asked questions", "Responsibilities of {role}", "When things go wrong",
    "Key dates", "Contacts and support", "Changes since the last version",
]  # fmt: skip

SUBSECTIONS = ["Before you start", "Step by step", "Examples", "Edge cases", "Deadlines"]


def _fill(rng: random.Random, template: str, topic: str, subject: str) -> str:
    """One sentence: every slot of `template` drawn independently."""
    objects = TOPICS[topic][1]

    def pick(name: str) -> str:
        key = name.lower()
        if key == "object":
            value = rng.choice(objects)
        elif key == "subject":
            value = subject.lower()
        elif key == "amount":
            value = f"{rng.choice(SLOTS['currency'])}{rng.randrange(10, 2500, 5)}"
        elif key == "condition2":
            value = rng.choice(SLOTS["condition"])
        elif key in {"n", "months", "years"}:
            value = str(rng.randint(2, 40))
        elif key == "year":
            value = str(rng.randint(2024, 2028))
        else:
            value = rng.choice(SLOTS[key])
        return value[0].upper() + value[1:] if name[0].isupper() else value

    return re.sub(r"\{(\w+)\}", lambda m: pick(m.group(1)), template)


def paragraph(rng: random.Random, topic: str, subject: str) -> str:
    """Three to six policy sentences about one subject."""
    count = rng.randint(3, 6)
    return " ".join(_fill(rng, rng.choice(SENTENCES), topic, subject) for _ in range(count))


def document_text(rng: random.Random, topic: str, subject: str, number: int) -> str:
    """A Markdown policy page: title, intro, numbered sections, some with subsections."""
    office = rng.choice(SLOTS["office"])
    lines = [
        f"# {subject} Policy ({office}, edition {number})",
        "",
        paragraph(rng, topic, subject),
        "",
    ]
    for i, title in enumerate(rng.sample(SECTIONS, rng.randint(3, 4)), start=1):
        title = _fill(rng, title, topic, subject)
        lines += [f"## {i}. {title}", ""]
        for _ in range(rng.randint(1, 2)):
            lines += [paragraph(rng, topic, subject), ""]
        if rng.random() < 0.25:
            lines += [f"### {i}.1 {rng.choice(SUBSECTIONS)}", "", paragraph(rng, topic, subject)]
            lines += [""]
    return "\n".join(lines)


def write_documents(rng: random.Random, docs_dir: Path, start: int, count: int) -> list[Path]:
    """Write documents number `start` … `start + count - 1`; returns their paths."""
    topics = list(TOPICS)
    paths = []
    for number in range(start, start + count):
        topic = topics[number % len(topics)]
        subject = rng.choice(TOPICS[topic][0])
        slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-")
        path = docs_dir / topic / f"{slug}-{number:05d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document_text(rng, topic, subject, number), encoding="utf-8")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# Corpus preparation
# --------------------------------------------------------------------------------------------


@dataclass
class Corpus:
    docs_dir: Path
    documents: int
    chunks: list[Any]  # llmops.knowledge.chunking.Chunk, in pipeline order
    chunk_seconds: float

    @property
    def texts(self) -> list[str]:
        return [c.embedding_text for c in self.chunks]


def _chunker(embedder: Any) -> Any:
    from llmops.knowledge.chunking import Chunker, ChunkerSettings

    settings = ChunkerSettings().capped(embedder.max_seq_length)
    return Chunker(embedder.tokenizer, settings)


def chunk_folder(docs_dir: Path, embedder: Any) -> Corpus:
    """Scan and chunk a folder exactly as the pipeline's default config does."""
    from llmops.knowledge.documents import scan_documents

    started = time.perf_counter()
    scan = scan_documents(docs_dir)
    chunker = _chunker(embedder)
    chunks = [c for d in scan.documents for c in chunker.chunk_document(d)]
    return Corpus(docs_dir, len(scan.documents), chunks, time.perf_counter() - started)


def generate_corpus(docs_dir: Path, min_chunks: int, embedder: Any, seed: int) -> Corpus:
    """Generate documents until the real chunker yields at least `min_chunks` chunks."""
    from llmops.knowledge.documents import read_document

    rng = random.Random(seed)
    chunker = _chunker(embedder)
    per_doc: dict[str, int] = {}
    written = 0
    batch = max(1, min(min_chunks // 5, 50))  # calibrate chunks per document first
    while sum(per_doc.values()) < min_chunks:
        for path in write_documents(rng, docs_dir, written, batch):
            doc = read_document(path, docs_dir)
            per_doc[doc.path] = len(chunker.chunk_document(doc))
        written += batch
        rate = sum(per_doc.values()) / written
        batch = max(1, int(np.ceil((min_chunks - sum(per_doc.values())) / rate)))
    return chunk_folder(docs_dir, embedder)


def prepare_docs(args: argparse.Namespace, work: Path, embedder: Any) -> Corpus:
    """The benchmark corpus in `work/docs`: generated, or a copy of `--docs`."""
    docs_dir = work / "docs"
    if args.docs:
        shutil.copytree(Path(args.docs), docs_dir)
        corpus = chunk_folder(docs_dir, embedder)
        if len(corpus.chunks) < args.chunks:
            print(f"note: {args.docs} gives {len(corpus.chunks)} chunks (< --chunks {args.chunks})")
        return corpus
    return generate_corpus(docs_dir, args.chunks, embedder, args.seed)


def duplicate_texts(corpus: Corpus) -> int:
    return len(corpus.texts) - len(set(corpus.texts))


_NOT_PROSE = re.compile(r"^\s*(#|\||[-*+>]\s|\d+[.)]\s|```|<|\*\*)")


def change_documents(docs_dir: Path, share: float, seed: int) -> list[str]:
    """Rewrite two prose paragraphs of `share` of the .md/.txt documents; returns their paths."""
    files = sorted(
        p
        for p in docs_dir.rglob("*")
        if p.is_file()
        and p.suffix.lower() in {".md", ".txt"}
        and not any(part.startswith(".") for part in p.relative_to(docs_dir).parts)
    )
    if not files:
        return []
    rng = random.Random(seed + 1)
    chosen = sorted(rng.sample(files, max(1, round(len(files) * share))))
    topics = list(TOPICS)
    for path in chosen:
        topic = rng.choice(topics)
        subject = rng.choice(TOPICS[topic][0])
        blocks = path.read_text(encoding="utf-8").split("\n\n")
        prose = [i for i, b in enumerate(blocks) if len(b) > 80 and not _NOT_PROSE.match(b)]
        for i in rng.sample(prose, min(2, len(prose))):
            blocks[i] = "Revised: " + paragraph(rng, topic, subject)
        if not prose:
            blocks.append("Revised: " + paragraph(rng, topic, subject))
        path.write_text("\n\n".join(blocks), encoding="utf-8")
    return [p.relative_to(docs_dir).as_posix() for p in chosen]


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------


@dataclass
class RunOutcome:
    seconds: float
    result: Any  # dagster.ExecuteInProcessResult
    meta: dict[str, Any]
    steps: dict[str, float]
    check: dict[str, Any] = field(default_factory=dict)

    @property
    def chunk_ids(self) -> set[str]:
        return {c.chunk_id for c in self.result.output_for_node("document_chunks")}


def bare_encode_seconds(embedder: Any, texts: list[str]) -> float:
    """One `model.encode` call on `texts`, as the Embedder configures it."""
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True)
    return time.perf_counter() - started


def step_durations(instance: Any, run_id: str) -> dict[str, float]:
    """Seconds per step (first STEP_START to STEP_SUCCESS/FAILURE) and of the whole run."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None:
            continue
        key = event.step_key or "(run)"
        kind = event.event_type_value
        if kind in {"STEP_START", "RUN_START"}:
            starts.setdefault(key, entry.timestamp)
        elif kind in {"STEP_SUCCESS", "STEP_FAILURE", "RUN_SUCCESS", "RUN_FAILURE"}:
            ends[key] = entry.timestamp
    return {k: ends[k] - starts[k] for k in starts if k in ends}


def run_reindex(job: Any, docs_dir: Path, resources: dict[str, Any], instance: Any) -> RunOutcome:
    """Execute the `reindex` job in process and time it end to end."""
    run_config = {
        "ops": {"source_documents": {"config": {"docs_dir": str(docs_dir)}}},
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
    }
    started = time.perf_counter()
    result = job.execute_in_process(run_config=run_config, instance=instance, resources=resources)
    seconds = time.perf_counter() - started
    materialization = result.asset_materializations_for_node("chunk_embeddings")[0]
    meta = {k: v.value for k, v in materialization.metadata.items()}
    checks = result.get_asset_check_evaluations()
    check = {k: v.value for k, v in checks[0].metadata.items()} if checks else {}
    if checks:
        check["passed"] = checks[0].passed
    return RunOutcome(seconds, result, meta, step_durations(instance, result.run_id), check)


def paraphrase(rng: random.Random, sentence: str) -> str:
    """Drop about a quarter of the words and move one short span elsewhere."""
    words = re.sub(r"[^\w\s'-]", " ", sentence).lower().split()
    kept = [w for w in words if rng.random() > 0.25] or words
    if len(kept) > 4:
        i = rng.randrange(len(kept) - 2)
        span = kept[i : i + 2]
        del kept[i : i + 2]
        j = rng.randrange(len(kept) + 1)
        kept[j:j] = span
    return " ".join(kept)


def make_queries(chunks: list[Any], count: int, seed: int) -> list[tuple[str, str]]:
    """`count` (query, source chunk id) pairs paraphrased from corpus sentences."""
    rng = random.Random(seed + 2)
    queries = []
    while len(queries) < count:
        chunk = rng.choice(chunks)
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", chunk.text) if len(s.split()) >= 8]
        if sentences:
            queries.append((paraphrase(rng, rng.choice(sentences)), chunk.chunk_id))
    return queries


def time_calls(calls: list[Any]) -> list[float]:
    """Milliseconds of each zero-argument call."""
    times = []
    for call in calls:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def percentiles(ms: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(ms, [50, 95])
    return float(p50), float(p95)


def query_encode_by_threads(embedder: Any, queries: list[str]) -> dict[int, tuple[float, float]]:
    """Diagnostic: p50/p95 ms of `embedder.encode([q])` at the current torch threads and at 1.

    Torch's thread count is restored afterwards; nothing else measured here depends on it.
    """
    import torch

    current = torch.get_num_threads()
    found = {}
    try:
        for threads in dict.fromkeys([current, 1]):
            torch.set_num_threads(threads)
            embedder.encode(queries[:1])
            found[threads] = percentiles(
                time_calls([lambda q=q: embedder.encode([q]) for q in queries])
            )
    finally:
        torch.set_num_threads(current)
    return found


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


_THREAD_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")


def machine_facts() -> list[str]:
    import dagster
    import lancedb
    import sentence_transformers
    import torch

    model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = re.findall(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        model = names[0] if names else model
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "n/a"
    return [
        f"cpu: {model}; os.cpu_count={os.cpu_count()}, usable cores={affinity}",
        f"torch threads={torch.get_num_threads()}, interop threads="
        f"{torch.get_num_interop_threads()}; "
        + ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in _THREAD_ENV),
        f"python {platform.python_version()}, torch {torch.__version__}, sentence-transformers "
        f"{sentence_transformers.__version__}, lancedb {lancedb.__version__}, dagster "
        f"{dagster.__version__}",
    ]


def print_run(name: str, run: RunOutcome) -> None:
    m = run.meta
    print(
        f"{name}: {run.seconds:.2f}s wall; chunks={int(m['chunks'])} embedded={int(m['embedded'])}"
        f" reused={int(m['reused'])} deleted={int(m['deleted'])}"
        f" table_version={int(m['table_version'])} ann_index={m['ann_index']}"
        f" encode_seconds={m['encode_seconds']} sync_seconds={m['seconds']}"
    )
    steps = ", ".join(f"{k}={v:.2f}s" for k, v in run.steps.items())
    print(f"  dagster durations: {steps}")
    inside = sum(v for k, v in run.steps.items() if k != "(run)")
    print(
        f"  sync_index minus encode (plan + LanceDB write + ANN index): "
        f"{m['seconds'] - m['encode_seconds']:.2f}s; outside steps (Dagster run overhead): "
        f"{run.seconds - inside:.2f}s"
    )
    if run.check:
        print(f"  ann_recall_at_10 check: {run.check}")


def print_table(rows: list[tuple[str, str, str, bool]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    widths = [max(w, len(h)) for w, h in zip(widths, ["metric", "measured", "target"], strict=True)]
    print()
    print(f"{'metric':<{widths[0]}}  {'measured':>{widths[1]}}  {'target':<{widths[2]}}  result")
    print("-" * (sum(widths) + 14))
    for metric, measured, target, ok in rows:
        result = "PASS" if ok else "FAIL"
        print(f"{metric:<{widths[0]}}  {measured:>{widths[1]}}  {target:<{widths[2]}}  {result}")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=5000, help="minimum generated chunks")
    parser.add_argument("--docs", type=Path, help="index a copy of this folder instead")
    parser.add_argument("--queries", type=int, default=200, help="timed search queries")
    parser.add_argument("--seed", type=int, default=SEED, help="corpus and query seed")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)
    if args.docs and not args.docs.is_dir():
        parser.error(f"--docs: {args.docs} is not a folder")
    if args.chunks < 1 or args.queries < 1:
        parser.error("--chunks and --queries must be positive")
    return args


def isolate_state(work: Path) -> None:
    """Point every llmops path at `work` before any pipeline module is imported."""
    os.environ["LLMOPS_HOME"] = str(work / "home")
    os.environ["LLMOPS_LANCEDB_URI"] = str(work / "home" / "lancedb")
    os.environ["LLMOPS_DOCS_DIR"] = str(work / "docs")
    os.environ["DAGSTER_HOME"] = str(work / "home" / "dagster")
    (work / "home" / "dagster").mkdir(parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Run every measurement once and print the results table; 1 if a target fails."""
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="llmops-bench-"))
    isolate_state(work)
    try:
        return benchmark(args, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def benchmark(args: argparse.Namespace, work: Path) -> int:
    from dagster import DagsterInstance

    from llmops.retrieval.search import retrieve
    from pipelines.definitions import defs
    from resources.embedder import Embedder
    from resources.vector_store import VectorStore

    print("== machine")
    for line in machine_facts():
        print(line)

    embedder = Embedder()
    store = VectorStore(uri=os.environ["LLMOPS_LANCEDB_URI"])
    started = time.perf_counter()
    embedder.model.encode(["warm up"])
    print(f"model load + warm-up: {time.perf_counter() - started:.2f}s")

    print("\n== corpus")
    corpus = prepare_docs(args, work, embedder)
    tokens = [c.token_count for c in corpus.chunks]
    print(
        f"documents={corpus.documents} chunks={len(corpus.chunks)} "
        f"mean tokens/chunk={statistics.fmean(tokens):.1f} (max {max(tokens)}) "
        f"duplicate chunk texts={duplicate_texts(corpus)} "
        f"standalone scan+chunk={corpus.chunk_seconds:.2f}s"
    )

    print("\n== bare encode (before ingest)")
    texts = corpus.texts
    bare_before = bare_encode_seconds(embedder, texts)
    print(f"{len(texts)} texts in {bare_before:.2f}s = {len(texts) / bare_before:.1f} chunks/s")

    print("\n== full ingest (reindex job)")
    job = defs.resolve_job_def("reindex")
    resources = {"embedder": embedder, "vector_store": store}
    instance = DagsterInstance.ephemeral()
    full = run_reindex(job, corpus.docs_dir, resources, instance)
    print_run("full", full)
    pipeline_texts = [c.embedding_text for c in full.result.output_for_node("document_chunks")]
    same = pipeline_texts == texts
    print(f"pipeline chunk texts identical to the bare-encode texts: {same}")
    texts = pipeline_texts

    print("\n== bare encode (after ingest)")
    bare_after = bare_encode_seconds(embedder, texts)
    print(f"{len(texts)} texts in {bare_after:.2f}s = {len(texts) / bare_after:.1f} chunks/s")
    bare_mean = (bare_before + bare_after) / 2
    n = len(texts)
    ingest_cps = int(full.meta["chunks"]) / full.seconds
    ratio = ingest_cps / (n / bare_mean)
    print(
        f"bare mean {bare_mean:.2f}s = {n / bare_mean:.1f} chunks/s; ingest {ingest_cps:.1f} "
        f"chunks/s; ratio ingest/bare = {ratio:.3f} (vs before {bare_before / full.seconds:.3f}, "
        f"vs after {bare_after / full.seconds:.3f})"
    )

    print("\n== incremental ingest (1 % of documents changed)")
    changed = change_documents(corpus.docs_dir, CHANGED_SHARE, args.seed)
    incremental = run_reindex(job, corpus.docs_dir, resources, instance)
    print(f"changed documents: {len(changed)}")
    print_run("incremental", incremental)
    new_ids = incremental.chunk_ids - full.chunk_ids
    gone_ids = full.chunk_ids - incremental.chunk_ids
    chunks_after = incremental.result.output_for_node("document_chunks")
    new_docs = {c.document for c in chunks_after if c.chunk_id in new_ids}
    expected_ok = (
        int(incremental.meta["embedded"]) == len(new_ids)
        and int(incremental.meta["deleted"]) == len(gone_ids)
        and new_docs <= set(changed)
    )
    share = incremental.seconds / full.seconds
    print(
        f"expected embedded={len(new_ids)} (new chunk ids, all in changed docs: "
        f"{new_docs <= set(changed)}), expected deleted={len(gone_ids)}; "
        f"time share of full ingest = {share:.3f}"
    )

    print("\n== re-ingest without changes")
    unchanged = run_reindex(job, corpus.docs_dir, resources, instance)
    print_run("no-change", unchanged)

    print("\n== search latency")
    final_chunks = list(chunks_after)
    queries = make_queries(final_chunks, args.queries + WARMUP_QUERIES, args.seed)
    texts_q = [q for q, _ in queries]
    for q in texts_q[:WARMUP_QUERIES]:
        retrieve([q], embedder, store, k=SEARCH_K)
    timed = texts_q[WARMUP_QUERIES:]
    hits_found = []

    def one_query(q: str) -> None:
        hits_found.append(retrieve([q], embedder, store, k=SEARCH_K)[0])

    retrieve_ms = time_calls([lambda q=q: one_query(q) for q in timed])
    sources = [cid for _, cid in queries[WARMUP_QUERIES:]]
    hit_rate = statistics.fmean(
        any(h.chunk_id == cid for h in r.hits) for r, cid in zip(hits_found, sources, strict=True)
    )
    vectors = embedder.encode(texts_q)
    model_id = embedder.model_id
    for v in vectors[:WARMUP_QUERIES]:
        store.search(model_id, v, k=SEARCH_K)
    search_ms = time_calls(
        [lambda v=v: store.search(model_id, v, k=SEARCH_K) for v in vectors[WARMUP_QUERIES:]]
    )
    encode_ms = time_calls([lambda q=q: embedder.encode([q]) for q in timed])
    r50, r95 = percentiles(retrieve_ms)
    s50, s95 = percentiles(search_ms)
    e50, e95 = percentiles(encode_ms)
    print(f"retrieve() k={SEARCH_K}, {len(timed)} queries: p50={r50:.1f}ms p95={r95:.1f}ms")
    print(f"store.search() alone (precomputed vector): p50={s50:.1f}ms p95={s95:.1f}ms")
    print(f"embedder.encode([q]) alone: p50={e50:.1f}ms p95={e95:.1f}ms")
    print(
        f"source chunk in top-{SEARCH_K}: {hit_rate:.1%} (informational only: template sentences "
        f"recur across chunks); example query: {timed[0]!r}"
    )
    for threads, (p50, p95) in query_encode_by_threads(embedder, timed[:20]).items():
        print(
            f"diagnostic: encode([q]) with torch threads={threads}: p50={p50:.1f}ms p95={p95:.1f}ms"
        )

    recall = full.check.get("recall_at_10")
    rows = [
        (
            "ingest/bare encode throughput",
            f"{ratio:.3f}",
            f">= {TARGET_RATIO}",
            ratio >= TARGET_RATIO,
        ),
        (
            "1% re-ingest time / full ingest",
            f"{share:.3f}",
            f"<= {TARGET_INCREMENTAL_SHARE}",
            share <= TARGET_INCREMENTAL_SHARE,
        ),
        (
            "1% re-ingest embedded (expected)",
            f"{int(incremental.meta['embedded'])} ({len(new_ids)})",
            "== new chunk ids",
            expected_ok,
        ),
        (
            "no-change re-ingest embedded",
            str(int(unchanged.meta["embedded"])),
            "== 0",
            int(unchanged.meta["embedded"]) == 0,
        ),
        (
            "search p95 (retrieve, k=10)",
            f"{r95:.1f} ms",
            f"<= {TARGET_P95_MS:.0f} ms",
            r95 <= TARGET_P95_MS,
        ),
    ]
    if recall is not None:
        rows.append(
            (
                "ANN recall@10 (asset check)",
                f"{recall:.3f}",
                f">= {TARGET_ANN_RECALL}",
                recall >= TARGET_ANN_RECALL,
            )
        )
    print_table(rows)
    print(
        f"\ncorpus: {corpus.documents} documents, {n} chunks, "
        f"{statistics.fmean(tokens):.1f} mean tokens/chunk; full ingest {full.seconds:.1f}s "
        f"({ingest_cps:.1f} chunks/s), bare encode {bare_before:.1f}s / {bare_after:.1f}s "
        f"(mean {n / bare_mean:.1f} chunks/s)"
    )
    for line in machine_facts()[:2]:
        print(line)
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
