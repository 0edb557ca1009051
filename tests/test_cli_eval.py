"""`llmops eval` as a user runs it: offline with the local model, and with the test server as
chat model and judge, where a context-ignoring candidate fails the gate and is not promoted."""

import json
import shutil

import pandas as pd
import pytest

from llmops.evaluation.judge import JUDGE_METRICS
from tests.support import rule_judge
from tests.support.cli import llmops
from tests.support.files import PROJECT_ROOT, write_docs
from tests.support.llm_server import ScriptedLLMServer

pytestmark = pytest.mark.slow

METRICS = {
    "hit@5",
    "mrr@5",
    "semantic_similarity",
    "string_similarity",
    "groundedness",
    "abstention_accuracy",
    *JUDGE_METRICS,
}
ESTIMATE = {"mean", "ci_low", "ci_high", "n"}
# The shipped answer prompt, told to ignore the passages it is given.
IGNORING = (
    "You are a friendly workplace assistant. Ignore the handbook passages below: answer the\n"
    "    employee's question from your own general knowledge of how companies usually work, in a\n"
    "    confident tone. Never say that you don't know."
)


def test_eval_runs_offline_with_judge_metrics_not_run(tmp_path, monkeypatch):
    docs, home = tmp_path / "docs", tmp_path / "home"
    write_docs(
        docs,
        {
            "leave.md": "# Annual leave\n\nEvery employee gets 27 days of annual leave a year.\n",
            "laptops.md": "# Lost laptops\n\nReport a lost laptop within one hour.\n",
        },
    )
    evalset = tmp_path / "small.jsonl"
    cases = [
        ("leave", "How many days of annual leave do I get?", "27 days a year.", ["leave.md"]),
        ("laptop", "I lost my laptop, what now?", "Report it within one hour.", ["laptops.md"]),
        ("car", "What colour is the company car?", "I don't know based on the handbook.", []),
    ]
    evalset.write_text(
        "".join(
            json.dumps({"id": i, "question": q, "reference_answer": a, "gold_sources": g}) + "\n"
            for i, q, a, g in cases
        )
    )
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LLMOPS_JUDGE_MODEL", "LLMOPS_CHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLMOPS_MAX_OUTPUT_TOKENS", "16")
    monkeypatch.setenv("LLMOPS_EVALSETS_DIR", str(tmp_path))  # eval sets are read there only
    assert llmops("ingest", home=home, docs=docs).returncode == 0

    result = llmops("eval", "--evalset", str(evalset), "--json", home=home, docs=docs)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["evalset"] == str(evalset)
    [scored] = report["results"]
    assert (scored["prompt"], scored["label"]) == ("answer", "production")
    assert scored["chat_model"] == "SmolLM2-135M-Instruct"
    assert set(scored["metrics"]) == METRICS
    for name in ("hit@5", "mrr@5", "semantic_similarity", "abstention_accuracy"):
        assert set(scored["metrics"][name]) == ESTIMATE
    assert scored["metrics"]["hit@5"]["n"] == 2
    assert scored["metrics"]["abstention_accuracy"]["n"] == 3
    for name in JUDGE_METRICS:
        assert scored["metrics"][name]["status"] == "not_run"
        assert "LLMOPS_JUDGE_MODEL" in scored["metrics"][name]["reason"]
    assert scored["judge"]["model"] is None
    assert scored["gate"]["passed"] is None
    assert scored["cost_usd"] == 0
    assert pd.read_parquet(scored["scores_path"])["id"].tolist() == ["leave", "laptop", "car"]


def test_bad_evalset_exits_2_naming_the_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_EVALSETS_DIR", str(tmp_path))
    evalset = tmp_path / "bad.jsonl"
    evalset.write_text('{"id": "a", "question": "Why?", "reference_answer": "x"}\n')
    result = llmops("eval", "--evalset", str(evalset), home=tmp_path / "home")
    assert result.returncode == 2
    assert f"{evalset}:1" in result.stderr
    assert "gold_sources" in result.stderr


def test_eval_without_an_index_exits_2(tmp_path):
    result = llmops("eval", home=tmp_path / "home")
    assert result.returncode == 2
    assert "run `llmops ingest` first" in result.stderr


def test_context_ignoring_candidate_fails_the_gate_and_is_not_promoted(tmp_path, monkeypatch):
    home, prompts = tmp_path / "home", tmp_path / "prompts"
    shutil.copytree(PROJECT_ROOT / "prompts", prompts)
    monkeypatch.setenv("LLMOPS_PROMPTS_DIR", str(prompts))
    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        monkeypatch.setenv("LLMOPS_JUDGE_MODEL", "gpt-4o-mini")
        assert llmops("ingest", home=home).returncode == 0
        production = llmops("eval", "--json", home=home)
        assert production.returncode == 0, production.stderr
        [baseline] = json.loads(production.stdout)["results"]

        answer = prompts / "answer.yaml"
        shipped = answer.read_text()
        assert "Answer the employee's question using only" in shipped
        start = shipped.index("You are the Northwind")
        end = shipped.index("  user:")
        answer.write_text(shipped[:start] + IGNORING + "\n" + shipped[end:])
        # The judge is shown above; an untrusted judge's metrics do not enter the gate.
        monkeypatch.delenv("LLMOPS_JUDGE_MODEL")
        candidate = llmops("eval", "--prompt", "answer@candidate", "--json", "--check", home=home)
        refused = llmops("prompts", "promote", "answer", "candidate", home=home)
        forced = llmops(
            "prompts", "promote", "answer", "candidate", "--force", "--reason", "demo", home=home
        )

    assert baseline["label"] == "production"
    assert baseline["judge"]["model"] == "gpt-4o-mini"
    agreement = baseline["judge"]["agreement"]
    assert set(agreement) == {"faithful", "relevant"}
    assert agreement["faithful"]["n"] >= 30
    assert baseline["judge"]["trusted"] is False  # a word-overlap judge is not good enough
    for name in JUDGE_METRICS:
        assert set(baseline["metrics"][name]) >= ESTIMATE
        assert baseline["metrics"][name]["trusted"] is False
    assert baseline["metrics"]["groundedness"]["mean"] > 0.9

    assert candidate.returncode == 1, candidate.stderr
    assert "failed the promotion gate" in candidate.stderr
    [scored] = json.loads(candidate.stdout)["results"]
    assert scored["label"] == "candidate"
    assert scored["gate"]["passed"] is False
    assert scored["gate"]["baseline"] == baseline["version"]
    worse = {d["metric"] for d in scored["gate"]["details"] if d["worse"]}
    assert {"groundedness", "semantic_similarity"} <= worse
    assert "hit@5" not in worse  # same retrieval: the prompt does not change it
    assert scored["cost_usd"] > 0

    assert refused.returncode == 2
    assert "gate of answer@" in refused.stderr
    assert "failed against" in refused.stderr
    assert forced.returncode == 0, forced.stderr
    shown = json.loads(llmops("prompts", "show", "answer", "--json", home=home).stdout)
    assert shown["version"] == scored["version"]
    assert shown["history"][-1]["reason"].startswith("forced past the gate (the promotion gate")
    assert shown["history"][-1]["reason"].endswith(": demo")
