"""The answer path end to end: real index, real HTTP to a scripted OpenAI-compatible server,
real SQLite ledger; the local model once (slow)."""

from datetime import UTC, datetime

import pytest

from llmops.answering.rag import NO_ANSWER, RagSettings, answer, audit
from llmops.costs.budget import BudgetExceededError, BudgetLimits
from llmops.prompts.registry import promote, register, resolve, rollback
from llmops.prompts.specs import load_prompt_files
from resources.llm import LLMClient
from tests.support.files import PROJECT_ROOT
from tests.support.indexing import materialize_index
from tests.support.llm_server import ScriptedLLMServer, ok

pytestmark = pytest.mark.slow

LIMITS = BudgetLimits(max_input_tokens=2048, max_output_tokens=100)


@pytest.fixture
def server():
    with ScriptedLLMServer() as running:
        yield running
    assert running.unscripted == 0, "the client sent more requests than the test scripted"


@pytest.fixture
def llm(server) -> LLMClient:
    return LLMClient(base_url=server.base_url, api_key="k", model="gpt-4o-mini", retry_base_s=0.01)


@pytest.fixture
def indexed(docs, embedder, store, metadata):
    materialize_index(docs, embedder, store)
    register(load_prompt_files(PROJECT_ROOT / "prompts"), metadata)
    return docs


def _ask(question, embedder, store, llm, metadata, limits=LIMITS, prompt="answer"):
    return answer(question, resolve(metadata, prompt), embedder, store, llm, metadata, limits)


def test_answer_cites_what_the_model_was_given_and_logs_lineage(
    indexed, embedder, store, llm, metadata, server
):
    server.script(ok("27 days [leave.md]", prompt_tokens=300, completion_tokens=6))
    record = _ask("How many days of annual leave do I get?", embedder, store, llm, metadata)
    assert record.status == "answered"
    assert record.answer == "27 days [leave.md]"
    assert record.chunks[0].source == "leave.md"
    [body] = server.bodies
    sent = body["messages"][1]["content"]
    retrieved = store.search(embedder.model_id, embedder.encode([record.question]), k=5)
    retrieved_ids = {h.chunk_id for h in retrieved.hits[0]}
    for chunk in record.chunks:
        assert chunk.chunk_id in retrieved_ids
    assert "27 days of annual leave" in sent
    assert "How many days of annual leave do I get?" in sent
    assert body["model"] == "gpt-4o-mini"
    assert body["max_tokens"] == 100  # min(prompt's 200, the limit's 100)

    logged = metadata.queries.get(record.query_id)
    assert logged.prompt_version == resolve(metadata, "answer").version
    assert logged.table_version == store.version(embedder.model_id)
    assert logged.embedding_model == embedder.model_id
    assert (logged.input_tokens, logged.output_tokens) == (300, 6)
    assert logged.cost_usd == pytest.approx((300 * 0.15 + 6 * 0.60) / 1e6)
    [usage] = metadata.usage.find()
    assert (usage.purpose, usage.status, usage.query_id) == ("answer", "charged", record.query_id)


def test_nothing_relevant_means_no_llm_call(indexed, embedder, store, llm, metadata, server):
    record = _ask("Who won the 1998 football world cup?", embedder, store, llm, metadata)
    assert record.answer == NO_ANSWER
    assert record.status == "no_context"
    assert server.bodies == []
    assert metadata.usage.find() == []
    assert metadata.queries.get(record.query_id).status == "no_context"


def test_over_daily_budget_is_refused_before_the_call(
    indexed, embedder, store, llm, metadata, server
):
    server.script(ok("27 days", prompt_tokens=1000, completion_tokens=100))
    _ask("How many days of annual leave do I get?", embedder, store, llm, metadata)
    spent = metadata.usage.spent_on(datetime.now(UTC).date())
    assert spent > 0
    tight = BudgetLimits(2048, 100, daily_budget_usd=spent + 1e-7)
    with pytest.raises(BudgetExceededError, match="daily budget reached"):
        _ask("How do I report a lost laptop?", embedder, store, llm, metadata, limits=tight)
    assert len(server.bodies) == 1  # the refused call never reached the endpoint
    assert metadata.usage.spent_on(datetime.now(UTC).date()) == spent
    refused = [u for u in metadata.usage.find() if u.status == "refused"]
    assert len(refused) == 1
    assert refused[0].cost_usd == 0
    assert "LLMOPS_DAILY_BUDGET_USD" in refused[0].detail
    statuses = sorted(q.status for q in metadata.queries.find())
    assert statuses == ["answered", "refused"]


def test_input_budget_trims_context_never_the_question(
    indexed, embedder, store, llm, metadata, server
):
    steps = " ".join(f"Step {i}: tell the service desk what the laptop held." for i in range(12))
    (indexed / "lost-laptops.md").write_text(f"# Lost laptops\n\nReport a lost laptop. {steps}\n")
    materialize_index(indexed, embedder, store)
    server.script(ok("one hour"), ok("one hour"))
    question = "How quickly must I report a lost laptop?"
    roomy = _ask(question, embedder, store, llm, metadata)
    needed = llm.count_tokens(server.bodies[0]["messages"])
    # Fence markers and the canary are random per request and tokenize to different lengths
    # (a few tokens each, ten fences): 100 below the first request's need forces a trim.
    limit = needed - 100
    tight = _ask(question, embedder, store, llm, metadata, limits=BudgetLimits(limit, 50))
    assert not roomy.trimmed
    assert tight.trimmed
    assert tight.chunks[0].chunk_id == roomy.chunks[0].chunk_id
    sent = server.bodies[1]["messages"]
    assert question in sent[1]["content"]
    assert llm.count_tokens(sent) <= limit
    assert len(sent[1]["content"]) < len(server.bodies[0]["messages"][1]["content"])


def test_promote_and_rollback_change_the_prompt_ask_uses(
    indexed, embedder, store, llm, metadata, server, tmp_path
):
    server.script(ok("a"), ok("b"), ok("c"), ok("d"))
    question = "How do I report a lost laptop?"
    v1 = resolve(metadata, "answer").version
    edited = tmp_path / "prompts"
    edited.mkdir()
    source = (PROJECT_ROOT / "prompts" / "answer.yaml").read_text()
    (edited / "answer.yaml").write_text(source.replace("handbook assistant", "HR helpdesk bot"))
    [v2] = register(load_prompt_files(edited), metadata)
    assert v2.label == "candidate"

    assert _ask(question, embedder, store, llm, metadata).prompt_version == v1
    promote(metadata, "answer", v2.version, "candidate reads better")
    assert _ask(question, embedder, store, llm, metadata).prompt_version == v2.version
    assert "HR helpdesk bot" in server.bodies[1]["messages"][0]["content"]
    rollback(metadata, "answer", "bot wording confused users")
    assert _ask(question, embedder, store, llm, metadata).prompt_version == v1
    assert "handbook assistant" in server.bodies[2]["messages"][0]["content"]
    concise = _ask(question, embedder, store, llm, metadata, prompt="answer-concise")
    assert "at most two sentences" in server.bodies[3]["messages"][0]["content"]
    assert concise.prompt_name == "answer-concise"
    history = metadata.prompts.label_history("answer")
    moves = [(m.from_version, m.to_version) for m in history if m.label == "production"]
    assert moves[-2:] == [(v1, v2.version), (v2.version, v1)]


def test_audit_reproduces_retrieval_after_reindex(indexed, embedder, store, llm, metadata, server):
    server.script(ok("Report it within one hour."), ok("Report it within one hour."))
    record = _ask("How quickly must I report a lost laptop?", embedder, store, llm, metadata)
    (indexed / "security.md").write_text(
        "# Security\n\n## Lost devices\n\nReport a lost laptop or phone within 30 minutes "
        "to the security hotline.\n"
    )
    reindexed, _ = materialize_index(indexed, embedder, store)
    assert reindexed["embedded"] > 0
    assert reindexed["table_version"] > record.table_version
    result = audit(record, embedder, store, llm, metadata, LIMITS, RagSettings())
    assert result.same_chunks
    assert result.chunk_ids == [c.chunk_id for c in record.chunks]
    assert result.same_answer
    assert result.answer_diff == ""
    assert "lost laptop within one hour" in server.bodies[1]["messages"][1]["content"]
    assert [u.purpose for u in metadata.usage.find()] == ["answer", "audit"]


def test_local_model_answers_offline(indexed, embedder, store, metadata):
    local = LLMClient()
    assert local.provider == "local"
    limits = BudgetLimits(max_input_tokens=1024, max_output_tokens=40)
    record = _ask("How many days of annual leave do I get?", embedder, store, local, metadata,
                  limits=limits)  # fmt: skip
    assert record.status == "answered"
    assert record.answer
    assert record.chat_model == "SmolLM2-135M-Instruct"
    assert 0 < record.output_tokens <= 40
    assert record.cost_usd == 0
    assert "leave.md" in [c.source for c in record.chunks]
    again = audit(
        metadata.queries.get(record.query_id),
        embedder,
        store,
        local,
        metadata,
        limits,
        RagSettings(),
    )
    assert again.same_chunks
    assert again.same_answer  # greedy decoding is deterministic


def test_an_answer_cut_at_the_token_cap_is_marked_truncated(
    indexed, embedder, store, llm, metadata, server
):
    server.script(
        ok("Everyone gets 27 days", completion_tokens=100, finish_reason="length"),
        ok("27 days [leave.md]", completion_tokens=6),
    )
    cut = _ask("How many days of annual leave do I get?", embedder, store, llm, metadata)
    whole = _ask("How many days of annual leave do I get?", embedder, store, llm, metadata)
    assert (cut.truncated, whole.truncated) == (True, False)
    assert metadata.queries.get(cut.query_id).truncated is True
    assert metadata.queries.get(whole.query_id).truncated is False
