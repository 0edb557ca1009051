"""A thumbs-down answer travels from `llmops ask` to an approved eval case that `llmops eval`
then scores; the chat model is the OpenAI-compatible test server."""

import json

import pandas as pd
import pytest

from tests.support import rule_judge
from tests.support.cli import llmops
from tests.support.files import write_docs
from tests.support.llm_server import ScriptedLLMServer

pytestmark = pytest.mark.slow


def test_thumbs_down_becomes_an_eval_case_the_next_evaluation_scores(tmp_path, monkeypatch):
    docs, home, evalsets = tmp_path / "docs", tmp_path / "home", tmp_path / "evalsets"
    write_docs(
        docs,
        {
            "leave.md": "# Annual leave\n\nEvery employee gets 27 days of annual leave a year.\n",
            "laptops.md": "# Lost laptops\n\nReport a lost laptop within one hour.\n",
        },
    )
    evalsets.mkdir()
    (evalsets / "handbook.jsonl").write_text(
        json.dumps(
            {
                "id": "laptop",
                "question": "I lost my laptop, what now?",
                "reference_answer": "Report it within one hour.",
                "gold_sources": ["laptops.md"],
            }
        )
        + "\n"
    )
    monkeypatch.setenv("LLMOPS_EVALSETS_DIR", str(evalsets))
    monkeypatch.delenv("LLMOPS_JUDGE_MODEL", raising=False)
    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        assert llmops("ingest", home=home, docs=docs).returncode == 0
        asked = llmops("ask", "How much annual leave?", "--json", home=home, docs=docs)
        assert asked.returncode == 0, asked.stderr
        query_id = json.loads(asked.stdout)["query_id"]

        unknown = llmops("feedback", "no-such-id", "down", home=home, docs=docs)
        comment = "too vague, mail me at jane.doe@example.com"
        rated = llmops(
            "feedback", query_id, "down", "--comment", comment, "--json", home=home, docs=docs
        )
        proposed = llmops("evalset", "propose", "--json", home=home, docs=docs)
        assert proposed.returncode == 0, proposed.stderr
        [case_id] = json.loads(proposed.stdout)["pending"]
        proposal = json.loads((evalsets / "candidates" / f"{case_id}.json").read_text())
        approved = llmops(
            "evalset",
            "approve",
            case_id,
            "--reference-answer",
            "27 days of annual leave a year.",
            "--json",
            home=home,
            docs=docs,
        )
        evaluated = llmops("eval", "--json", home=home, docs=docs)

    assert unknown.returncode == 2
    assert "no-such-id" in unknown.stderr
    assert json.loads(rated.stdout)["rating"] == "down"
    assert json.loads(rated.stdout)["feedback_id"] == 1  # the unknown id wrote nothing
    assert proposal["question"] == "How much annual leave?"
    assert proposal["comment"] == "too vague, mail me at <EMAIL_ADDRESS>"  # PII never stored
    # the documents the rejected answer cited, best first (the floor keeps every hit once the
    # best one clears it)
    assert proposal["sources"][0] == "leave.md"
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["case"]["gold_sources"] == proposal["sources"]
    assert not (evalsets / "candidates" / f"{case_id}.json").exists()
    assert evaluated.returncode == 0, evaluated.stderr
    [result] = json.loads(evaluated.stdout)["results"]
    assert result["metrics"]["hit@5"]["n"] == 2
    scores = pd.read_parquet(result["scores_path"]).set_index("id")
    assert list(scores.index) == ["laptop", case_id]
    assert scores.loc[case_id, "hit@5"] == 1.0
    assert scores.loc[case_id, "tags"] == "feedback"
