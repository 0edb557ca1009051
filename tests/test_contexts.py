"""Context configurations: validation, versions and labels, hybrid search on exact names,
experiments that reuse indexes, the promotion gate, and `ask` retrieving with production."""

import json
from pathlib import Path

import pytest

from llmops.answering.rag import RagSettings, above_floor, answer
from llmops.costs.budget import BudgetLimits
from llmops.errors import InputError
from llmops.prompts.registry import PRODUCTION
from llmops.prompts.registry import register as register_prompts
from llmops.prompts.registry import resolve as resolve_prompt
from llmops.prompts.specs import load_prompt_files
from llmops.retrieval.context_registry import production, register, resolve, spec_of
from llmops.retrieval.contexts import index_id, load_context_files, parse_context
from llmops.retrieval.experiments import (
    Benchmark,
    comparison,
    load_summaries,
    promotion_blocker,
    run_experiment,
    serving_settings,
)
from llmops.retrieval.search import cap_per_document, retrieve
from resources.llm import LLMClient
from resources.metadata_store import MetadataStore
from resources.vector_store import SearchHit, table_name
from tests.support.files import PROJECT_ROOT, write_docs
from tests.support.llm_server import ScriptedLLMServer, ok

BASE = """
name: {name}
description: test configuration
chunking:
  max_tokens: {tokens}
  overlap_tokens: 16
retrieval:
  mode: {mode}
  k: 3
  candidates: 10
  min_score: {floor}
"""


def _context(folder: Path, name: str, mode="vector", tokens=256, floor=0.0) -> Path:
    path = folder / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BASE.format(name=name, mode=mode, tokens=tokens, floor=floor))
    return path


def test_validation_names_file_line_and_field(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.format(name="x", mode="semantic", tokens=256, floor=0.3))
    with pytest.raises(InputError, match=r"bad\.yaml:8: retrieval\.mode"):
        parse_context(bad.read_text(), bad)
    overlap = "name: x\ndescription: d\nchunking:\n  max_tokens: 64\n  overlap_tokens: 40\n"
    with pytest.raises(InputError, match="overlap_tokens"):
        parse_context(overlap, tmp_path / "o.yaml")
    with pytest.raises(InputError, match="rerankr"):
        parse_context("name: x\ndescription: d\nretrieval:\n  rerankr: none\n", bad)


def test_versions_follow_content_and_labels_follow_the_registry(tmp_path: Path, metadata):
    folder = tmp_path / "contexts"
    path = _context(folder, "default")
    [first] = load_context_files(folder)
    reformatted = parse_context(path.read_text().replace("  k: 3", "  k:   3  # top three"), path)
    assert reformatted.version == first.spec.version
    assert register([first], metadata)[0].ref == first.spec.ref
    assert register([first], metadata) == []  # same content: no new version
    assert production(metadata).ref == first.spec.ref

    _context(folder, "default", mode="hybrid")
    [second] = load_context_files(folder)
    assert second.spec.version != first.spec.version
    register([second], metadata)
    assert resolve(metadata, "candidate").ref == second.spec.ref
    assert resolve(metadata, "production").ref == first.spec.ref
    assert resolve(metadata, "default").ref == second.spec.ref  # NAME: its newest version
    assert resolve(metadata, "default@candidate").ref == second.spec.ref
    with pytest.raises(InputError, match="not found"):
        resolve(metadata, "default@000000000000")


def test_only_changed_chunking_or_another_corpus_gets_its_own_table(embedder):
    spec = parse_context(BASE.format(name="a", mode="hybrid", tokens=256, floor=0), Path("a"))
    assert index_id(embedder.model_id, spec.chunking.settings) != embedder.model_id  # overlap 16
    default = parse_context("name: d\ndescription: d\n", Path("d")).chunking.settings
    assert index_id(embedder.model_id, default) == embedder.model_id  # the main table
    assert index_id(embedder.model_id, default, "pydocs") != embedder.model_id


CODES = {
    # Close in meaning to the question, without its identifier: vector search prefers these.
    "billing.md": "# Billing faults\n\nWhen the invoicing tool reports a fault number, "
    "finance support looks the number up and fixes the invoice.",
    "accounts.md": "# Accounting failures\n\nA bookkeeping failure shows a numbered fault; "
    "open a ticket with the number and the accounting team responds.",
    "payments.md": "# Payment errors\n\nPayment system error numbers mean the transfer "
    "stopped; the treasury desk retries it the same day.",
    "journal.md": "# Journal problems\n\nIf the general journal refuses an entry with a fault "
    "code, ask the controller to reopen the period.",
    # The one chunk with the identifier, about something else entirely.
    "printers.md": "# Printers\n\nThe third-floor printer shows ERR_LDG7731 when its "
    "toner drawer is open; close the drawer.",
}


@pytest.fixture
def codes_index(tmp_path, embedder, store):
    """A docs folder and its hybrid-ready index (a non-default chunking: its own table)."""
    from llmops.retrieval.experiments import build_index

    docs = tmp_path / "codes"
    write_docs(docs, CODES)
    spec = parse_context(BASE.format(name="c", mode="hybrid", tokens=256, floor=0), Path("c"))
    built = build_index(spec, Benchmark("codes", docs, docs, "codes"), embedder, store)
    return spec, built.index_id


def test_hybrid_finds_an_exact_identifier_that_vector_search_misses(codes_index, embedder, store):
    spec, key = codes_index
    question = "What does fault ERR_LDG7731 in the ledger mean?"

    def top(mode: str) -> list[str]:
        retrieval = spec.retrieval.model_copy(update={"mode": mode})
        [found] = retrieve([question], embedder, store, k=3, spec=retrieval, index_id=key)
        return [h.document for h in found.hits]

    assert "printers.md" not in top("vector")
    assert top("fts")[0] == "printers.md"
    assert "printers.md" in top("hybrid")


def _evalset(path: Path) -> Path:
    cases = [
        ("q1", "How many days of annual leave do I get?", "leave.md"),
        ("q2", "Do I need receipts for expenses?", "expenses.md"),
        ("q3", "How long can my passphrase be at minimum?", "security.md"),
        ("q4", "Should I take the train or fly?", "travel.html"),
        ("q5", "Is my pension matched?", "benefits.txt"),
    ]
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": i,
                    "question": q,
                    "reference_answer": "see the handbook",
                    "gold_sources": [g],
                }
            )
            for i, q, g in cases
        )
    )
    return path


def test_experiments_reuse_indexes_and_gate_promotion(tmp_path, docs, embedder, store, metadata):
    folder = tmp_path / "contexts"
    _context(folder, "vector")
    _context(folder, "floor", floor=0.99)  # nothing passes the floor: strictly worse
    register(load_context_files(folder), metadata)
    good, worse = resolve(metadata, "vector"), resolve(metadata, "floor")
    assert production(metadata).ref == worse.ref  # files register in name order: floor first
    bench = [Benchmark("handbook", docs, _evalset(tmp_path / "cases.jsonl"), "handbook")]
    reports = tmp_path / "reports"

    first = run_experiment(good, bench, embedder, store, reports)
    again = run_experiment(good, bench, embedder, store, reports)
    assert first.scores[0].index.embedded > 0
    assert again.scores[0].index.embedded == 0  # the unchanged index is reused
    assert again.scores[0].index.index_id == first.scores[0].index.index_id
    assert again.scores[0].hit_at_5 == first.scores[0].hit_at_5
    assert first.scores[0].hit_at_5[0] >= 0.8
    run_experiment(worse, bench, embedder, store, reports)
    assert run_experiment(worse, bench, embedder, store, reports).scores[0].hit_at_5[0] == 0.0

    table = comparison(load_summaries(reports))
    assert set(table.context) == {good.ref, worse.ref}
    assert table.set_index("context").loc[good.ref, "pareto"]  # nothing beats its hit@5
    assert (reports / "experiments" / f"floor_{worse.version}" / "per_question.parquet").exists()

    assert promotion_blocker(reports, good.ref, worse.ref) is None
    metadata.contexts.move_label(good.name, PRODUCTION, good.version, "gate passed")
    blocker = promotion_blocker(reports, worse.ref, good.ref)
    assert blocker is not None
    assert "hit@5" in blocker


def _summary(context: str, hit5: float, mrr5: float, p95: float, size: int) -> dict:
    score = {
        "benchmark": "b",
        "hit_at_1": [0.0] * 3,
        "hit_at_5": [hit5] * 3,
        "mrr_at_5": [mrr5] * 3,
        "latency_p50_ms": p95 / 2,
        "latency_p95_ms": p95,
        "index": {"size_bytes": size, "build_seconds": 1.0},
    }
    spec = {"retrieval": {"mode": "vector"}, "embedder": "torch", "chunking": {"max_tokens": 256}}
    return {"context": context, "spec": spec, "scores": [score]}


def test_pareto_marks_what_no_other_configuration_beats_on_every_axis():
    table = comparison(
        [
            _summary("best", 0.9, 0.8, 10.0, 1_000_000),
            _summary("beaten", 0.8, 0.7, 12.0, 1_000_000),  # worse than best on all four
            _summary("fast", 0.7, 0.6, 5.0, 1_000_000),  # worse quality, but the fastest
            _summary("small", 0.7, 0.6, 12.0, 500_000),  # worse quality, but the smallest
        ]
    ).set_index("context")
    assert table.pareto.to_dict() == {"best": True, "beaten": False, "fast": True, "small": True}


def test_ask_retrieves_with_the_production_context(tmp_path, docs, embedder, store, metadata):
    from llmops.retrieval.experiments import build_index

    folder = tmp_path / "contexts"
    _context(folder, "hybrid", mode="hybrid")
    register(load_context_files(folder), metadata)
    record = production(metadata)
    settings, used = serving_settings(record, embedder)
    build_index(spec_of(record), Benchmark("handbook", docs, docs, None), used, store)
    assert settings.retrieval.mode == "hybrid"
    assert settings.index_id != embedder.model_id
    register_prompts(load_prompt_files(PROJECT_ROOT / "prompts"), metadata)
    with ScriptedLLMServer() as server:
        server.script(ok("27 days [leave.md]"))
        llm = LLMClient(base_url=server.base_url, api_key="k", model="gpt-4o-mini")
        served = answer(
            "How many days of annual leave do I get?",
            resolve_prompt(metadata, "answer"),
            used,
            store,
            llm,
            metadata,
            BudgetLimits(max_input_tokens=2048, max_output_tokens=100),
            settings,
        )
    logged = metadata.queries.get(served.query_id)
    assert logged.context == record.ref
    assert logged.table_name == table_name(settings.index_id)
    assert logged.chunks[0].source == "leave.md"


def test_reindex_keeps_the_production_context_index(tmp_path, docs, embedder, store, metadata):
    """A production configuration with its own chunking gets its table from the reindex job,
    and a changed document reaches it without a new experiment."""
    import dagster as dg

    from assets import corpus, index

    folder = tmp_path / "contexts"
    _context(folder, "small", tokens=64)
    register(load_context_files(folder), metadata)
    assets = [corpus.source_documents, corpus.document_chunks, index.chunk_embeddings]

    def reindex() -> dict:
        result = dg.materialize(
            [*assets, index.production_context_index],
            resources={
                "embedder": embedder,
                "vector_store": store,
                "metadata_store": MetadataStore(url=metadata.url),
            },
            run_config={"ops": {"source_documents": {"config": {"docs_dir": str(docs)}}}},
        )
        node = result.asset_materializations_for_node("production_context_index")[0]
        return {k: v.value for k, v in node.metadata.items()}

    first = reindex()
    settings, _ = serving_settings(production(metadata), embedder)
    assert first["serving"] == table_name(settings.index_id) != table_name(embedder.model_id)
    assert first["embedded"] == first["chunks"] > 0
    (docs / "leave.md").write_text("# Leave\n\nEveryone gets 30 days of annual leave.\n")
    second = reindex()
    assert 0 < second["embedded"] < second["chunks"]
    [found] = retrieve(
        ["annual leave days"], embedder, store, spec=settings.retrieval, index_id=settings.index_id
    )
    assert "30 days" in found.hits[0].text


def test_new_retrieval_options_keep_the_versions_of_files_that_leave_them_out():
    plain = parse_context("name: d\ndescription: d\n", Path("d"))
    legacy = parse_context(
        "name: d\ndescription: d\nretrieval:\n  floor: each\n  per_document: null\n", Path("d")
    )
    assert legacy.version == plain.version
    assert spec_of_content(plain.canonical).retrieval.floor == "each"  # stored content reads back
    best = parse_context("name: d\ndescription: d\nretrieval:\n  floor: best\n", Path("d"))
    capped = parse_context("name: d\ndescription: d\nretrieval:\n  per_document: 1\n", Path("d"))
    assert len({plain.version, best.version, capped.version}) == 3
    shipped = {f.spec.name: f.spec for f in load_context_files(PROJECT_ROOT / "contexts")}
    assert shipped["hybrid"].version == "ec3f721d8ca7"  # unchanged since it was registered


def spec_of_content(content: str):
    from llmops.retrieval.contexts import ContextSpec

    return ContextSpec.model_validate_json(content)


def _hit(document: str, score: float, n: int = 0) -> SearchHit:
    return SearchHit(f"{document}-{n}", document, "", "text", score)


def test_per_document_cap_keeps_rank_order_and_spreads_the_top_k():
    hits = [_hit("a", 0.9, 0), _hit("a", 0.8, 1), _hit("b", 0.7), _hit("a", 0.6, 2), _hit("c", 0.5)]
    assert [h.chunk_id for h in cap_per_document(hits, 1)] == ["a-0", "b-0", "c-0"]
    assert [h.chunk_id for h in cap_per_document(hits, 2)] == ["a-0", "a-1", "b-0", "c-0"]


def test_the_floor_decides_abstention_on_the_best_hit_or_drops_each_hit():
    hits = [_hit("a", 0.30), _hit("b", 0.50), _hit("c", 0.20)]  # hybrid: not in cosine order
    best, each = RagSettings(min_score=0.35, floor="best"), RagSettings(min_score=0.35)
    assert above_floor(hits, best) == hits  # the best passes: every hit is evidence
    assert above_floor(hits, each) == [hits[1]]
    low = [_hit("a", 0.30), _hit("b", 0.20)]
    assert above_floor(low, best) == above_floor(low, each) == []  # abstain either way


def test_a_capped_context_retrieves_from_more_documents(tmp_path, embedder, store):
    """Through real LanceDB: a long document fills the top k uncapped, not capped."""
    from llmops.retrieval.experiments import build_index

    docs = tmp_path / "long"
    leave = "\n\n".join(
        f"## Leave rule {n}\n\n" + f"Annual leave rule {n}: holiday days carry over. " * 30
        for n in range(6)
    )
    write_docs(docs, {"leave.md": f"# Leave\n\n{leave}\n", **CODES})
    spec = parse_context(BASE.format(name="l", mode="vector", tokens=64, floor=0), Path("l"))
    key = build_index(spec, Benchmark("long", docs, docs, "long"), embedder, store).index_id
    question = "How many annual leave days carry over?"

    def documents(**update) -> list[str]:
        retrieval = spec.retrieval.model_copy(update=update)
        [found] = retrieve([question], embedder, store, k=3, spec=retrieval, index_id=key)
        return [h.document for h in found.hits]

    assert documents() == ["leave.md"] * 3
    assert documents(per_document=1) == ["leave.md"]  # its 10 candidates are all leave.md
    capped = documents(per_document=1, candidates=60)
    assert capped[0] == "leave.md"
    assert len(capped) == len(set(capped)) == 3
