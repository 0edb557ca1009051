"""One retrieval path: `search`, `ask`, `eval`, `audit` and the service retrieve through the
production context configuration (or the one they are given), name it, and switch together
when `llmops context promote` moves production."""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from llmops.entrypoints.access import mint
from llmops.entrypoints.service import Clients, create_app
from llmops.retrieval.contexts import load_context_files
from tests.support.cli import llmops
from tests.support.files import PROJECT_ROOT, write_docs
from tests.support.llm_server import ScriptedLLMServer, ok
from tests.support.service import wait_ready

QUESTION = "How many days of annual leave do I get?"
# Both use the default chunking (the main table); `spread` lets one document place one chunk.
CONTEXTS = {
    "close": "retrieval:\n  mode: vector\n  k: 3\n  min_score: 0.0\n  floor: best\n",
    "spread": "retrieval:\n  mode: vector\n  k: 3\n  candidates: 20\n  per_document: 1\n"
    "  min_score: 0.0\n  floor: best\n",
}
LEAVE = "\n\n".join(
    f"## Annual leave, part {n}\n\n"
    + f"Annual leave days: every employee gets 27 days of annual leave (rule {n}). " * 14
    for n in range(4)
)
DOCS = {
    "leave.md": f"# Annual leave\n\n{LEAVE}\n",
    "expenses.md": "# Expenses\n\nReceipts are required for anything over £25.\n",
    "laptops.md": "# Lost laptops\n\nReport a lost laptop within one hour.\n",
    "travel.md": "# Travel\n\nTake the train for trips under five hours.\n",
}


def test_only_the_context_path_calls_retrieve():
    """Every entry point retrieves through `rag.retrieve_with` (the context's settings): only it
    and the experiments, which score a given configuration, call `retrieve` themselves."""
    allowed = {
        "llmops/retrieval/search.py",
        "llmops/answering/rag.py",
        "llmops/retrieval/experiments.py",
    }
    callers = {
        path.relative_to(PROJECT_ROOT).as_posix()
        for folder in ("llmops", "assets", "pipelines", "resources")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if re.search(r"(?<![\w.])retrieve\(", path.read_text(encoding="utf-8"))
    }
    assert callers <= allowed, f"{sorted(callers - allowed)} retrieve outside the context path"
    assert "llmops/answering/rag.py" in callers


@pytest.fixture
def chat_server(monkeypatch):
    """The OpenAI-compatible test server as chat model: one short answer to every request."""
    with ScriptedLLMServer(responder=lambda _: ok("27 days [leave.md]")) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        yield server


@pytest.mark.slow
def test_search_ask_eval_and_the_service_return_the_same_chunks_and_switch_on_promote(
    tmp_path: Path, monkeypatch, chat_server
):
    docs, home, contexts = tmp_path / "docs", tmp_path / "home", tmp_path / "contexts"
    write_docs(docs, DOCS)
    write_docs(
        contexts,
        {f"{n}.yaml": f"name: {n}\ndescription: test\n{body}" for n, body in CONTEXTS.items()},
    )
    refs = {f.spec.name: f.spec.ref for f in load_context_files(contexts)}
    evalset = tmp_path / "one.jsonl"
    evalset.write_text(
        json.dumps(
            {
                "id": "q",
                "question": QUESTION,
                "reference_answer": "27",
                "gold_sources": ["leave.md"],
            },
        )
    )
    for name in ("LLMOPS_JUDGE_MODEL", "LLMOPS_CHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMOPS_CONTEXTS_DIR", str(contexts))
    monkeypatch.setenv("LLMOPS_EVALSETS_DIR", str(tmp_path))  # eval sets are read only there
    monkeypatch.setenv("LLMOPS_MAX_OUTPUT_TOKENS", "8")
    monkeypatch.setenv("LLMOPS_MAX_INPUT_TOKENS", "4096")
    assert llmops("ingest", home=home, docs=docs).returncode == 0

    def run(*args: str) -> dict:
        result = llmops(*args, "--json", home=home, docs=docs)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def served() -> dict[str, tuple[str | None, tuple[str, ...]]]:
        """(context, chunk ids) of the question from every entry point."""
        searched = run("search", QUESTION)
        asked = run("ask", QUESTION)
        [scored] = run("eval", "--evalset", str(evalset))["results"]
        [row] = pd.read_parquet(scored["scores_path"]).to_dict("records")
        monkeypatch.setenv("LLMOPS_HOME", str(home))
        monkeypatch.setenv("LLMOPS_DOCS_DIR", str(docs))
        clients = Clients.from_env()
        key, secret = mint("retrieval-path")
        clients.store.api_keys.add(key)
        with TestClient(create_app(clients)) as client:
            wait_ready(client, timeout_s=600)
            response = client.post(
                "/v1/search", json={"query": QUESTION, "k": 3}, headers={"X-API-Key": secret}
            )
        assert response.status_code == 200, response.text
        service = response.json()
        return {
            "search": (searched["context"], tuple(r["chunk_id"] for r in searched["results"])),
            "ask": (asked["context"], tuple(c["chunk_id"] for c in asked["citations"])),
            "eval": (scored["context"], tuple(row["chunk_ids"].split(","))),
            "/v1/search": (service["context"], tuple(r["chunk_id"] for r in service["results"])),
            "query": (None, (asked["query_id"],)),
        }

    before = served()
    query_id = before.pop("query")[1][0]
    assert set(before.values()) == {before["search"]}, before
    context, chunks = before["search"]
    assert context == refs["close"]  # registered first: production
    assert len(chunks) == 3
    tried = run("search", QUESTION, "--context", refs["spread"])
    assert tried["context"] == refs["spread"]
    spread = tuple(r["chunk_id"] for r in tried["results"])
    assert spread != chunks
    assert len({r["source"] for r in tried["results"]}) == 3

    run("context", "promote", "spread", "candidate", "--force", "--reason", "test")
    after = served()
    after.pop("query")
    assert set(after.values()) == {(refs["spread"], spread)}, after
    audited = run("audit", query_id, "--rerun")  # re-runs with the context it was served with
    assert audited["lineage"]["context"] == refs["close"]
    assert tuple(audited["rerun"]["chunk_ids"]) == chunks
