"""`llmops ask` and `llmops audit` offline with the local model, with the JSON fields the
README's "Command line" table lists."""

import json

import pytest

from tests.support.cli import ASK_FIELDS, llmops, llmops_process
from tests.support.files import write_docs

pytestmark = pytest.mark.slow


def test_ask_offline_then_audit_after_the_document_changed(tmp_path, monkeypatch):
    docs, home = tmp_path / "docs", tmp_path / "home"
    write_docs(
        docs,
        {
            "leave.md": "# Annual leave\n\nEvery employee gets 27 days of annual leave a year.\n",
            "laptops.md": "# Lost laptops\n\nReport a lost laptop within one hour.\n",
        },
    )
    monkeypatch.setenv("LLMOPS_MAX_OUTPUT_TOKENS", "24")
    assert llmops("ingest", home=home, docs=docs).returncode == 0

    # A real process: its stderr stays empty once the models are loaded (see tests.support.cli).
    asked = llmops_process(
        "ask", "How many days of annual leave do I get?", "--json", home=home, docs=docs
    )
    assert asked.returncode == 0, asked.stderr
    assert asked.stderr == ""  # no progress bars, no library logs: only --json on stdout
    answer = json.loads(asked.stdout)
    assert answer.keys() >= ASK_FIELDS
    assert answer["answer"]
    assert answer["citations"][0]["source"] == "leave.md"
    assert answer["usage"]["cost_usd"] == 0
    assert 0 < answer["usage"]["output_tokens"] <= 24
    assert answer["chat_model"] == "SmolLM2-135M-Instruct"

    (docs / "leave.md").write_text("# Annual leave\n\nFrom 2027 every employee gets 30 days.\n")
    reindexed = json.loads(llmops("ingest", "--json", home=home, docs=docs).stdout)
    assert reindexed["embedded"] == 1
    assert reindexed["table_version"] > answer["index_version"]

    shown = llmops("audit", answer["query_id"], home=home, docs=docs)
    assert shown.returncode == 0, shown.stderr
    assert "question:\n  How many days of annual leave do I get?" in shown.stdout
    assert f"answer:\n  {answer['answer'].splitlines()[0]}" in shown.stdout
    assert "leave.md — Annual leave" in shown.stdout  # the cited passage with its heading
    assert f"prompt {answer['prompt']}" in shown.stdout
    assert f"v{answer['index_version']}" in shown.stdout
    assert "add --rerun" in shown.stdout
    assert not json.loads(llmops("audit", answer["query_id"], "--json", home=home).stdout).get(
        "rerun"
    )

    audited = llmops("audit", answer["query_id"], "--rerun", "--json", home=home, docs=docs)
    assert audited.returncode == 0, audited.stderr
    report = json.loads(audited.stdout)
    assert report["lineage"]["query_id"] == answer["query_id"]
    assert report["lineage"]["index_version"] == answer["index_version"]
    assert report["rerun"]["chunk_ids"] == [c["chunk_id"] for c in answer["citations"]]
    assert report["rerun"]["same_chunks"] is True
    assert report["rerun"]["same_answer"] is True
    assert report["rerun"]["answer"] == answer["answer"]


def test_audit_of_unknown_query_exits_2(tmp_path):
    result = llmops("audit", "no-such-id", home=tmp_path / "home")
    assert result.returncode == 2
    assert "no logged query with id 'no-such-id'" in result.stderr
