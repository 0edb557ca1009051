"""Answering and scoring an eval set: real index, real HTTP to a rule-based test model."""

import math
from dataclasses import replace

import pandas as pd
import pytest

from llmops.costs.budget import BudgetLimits
from llmops.evaluation.evalsets import EvalCase
from llmops.evaluation.judge_model import NOT_CONFIGURED
from llmops.evaluation.scoring import (
    JudgeState,
    answer_cases,
    evalset_digest,
    metric_names,
    per_question,
    score_answers,
    summarize,
)
from llmops.prompts.registry import register, resolve
from llmops.prompts.specs import load_prompt_files
from resources.llm import LLMClient
from tests.support import rule_judge
from tests.support.files import PROJECT_ROOT
from tests.support.indexing import materialize_index
from tests.support.llm_server import ScriptedLLMServer

pytestmark = pytest.mark.slow

LIMITS = BudgetLimits(max_input_tokens=2048, max_output_tokens=100)
CASES = [
    EvalCase(
        id="leave",
        question="How many days of annual leave does everyone get?",
        reference_answer="Everyone gets 27 days of annual leave.",
        gold_sources=("leave.md",),
    ),
    EvalCase(
        id="receipts",
        question="Above which amount do expenses need a receipt?",
        reference_answer="Receipts are required for anything over £25.",
        gold_sources=("expenses.md",),
    ),
    EvalCase(
        id="pets",
        question="What is the capital city of Mongolia?",
        reference_answer="I don't know based on the handbook.",
        gold_sources=(),
        tags=("unanswerable",),
    ),
]


@pytest.fixture
def evaluated(docs, embedder, store, metadata):
    materialize_index(docs, embedder, store)
    register(load_prompt_files(PROJECT_ROOT / "prompts"), metadata)
    prompt = resolve(metadata, "answer")
    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        llm = LLMClient(base_url=server.base_url, api_key="k", model="gpt-4o-mini")
        answers = answer_cases(CASES, prompt, embedder, store, llm, metadata, LIMITS)
    return answers, server


def test_eval_answers_are_metered_but_not_logged_as_user_queries(evaluated, metadata):
    answers, server = evaluated
    by_id = {a.case.id: a for a in answers.answers}
    assert by_id["leave"].status == "answered"
    assert "27 days" in by_id["leave"].answer
    assert by_id["leave"].retrieved[0] == "leave.md"
    assert by_id["pets"].status == "no_context"  # nothing above the similarity floor
    assert len(server.received) == sum(a.status == "answered" for a in answers.answers) == 2
    ledger = metadata.usage.find()
    assert [u.purpose for u in ledger] == ["eval", "eval"]
    assert answers.cost_usd == pytest.approx(sum(u.cost_usd for u in ledger))
    assert metadata.queries.find() == []


def test_scores_per_question_and_summaries_with_intervals(evaluated, embedder):
    answers, _ = evaluated
    frame = score_answers(answers, embedder)
    rows = frame.set_index("id")
    assert rows.loc["leave", "hit@5"] == 1.0
    assert rows.loc["leave", "mrr@5"] == 1.0
    assert rows.loc["leave", "groundedness"] == 1.0  # the test model copies its passage
    assert rows.loc["leave", "semantic_similarity"] > 0.6
    assert 0 < rows.loc["leave", "string_similarity"] <= 1
    assert math.isnan(rows.loc["pets", "hit@5"])  # retrieval needs gold sources
    assert math.isnan(rows.loc["pets", "groundedness"])  # an abstention claims nothing
    assert rows["abstention_accuracy"].tolist() == [1.0, 1.0, 1.0]

    summary = summarize(frame, JudgeState(None, None))
    assert list(summary) == list(metric_names(5))
    assert summary["hit@5"]["n"] == 2
    assert summary["abstention_accuracy"]["n"] == 3
    for name in ("semantic_similarity", "string_similarity"):
        s = summary[name]
        assert s["ci_low"] <= s["mean"] <= s["ci_high"]
    for name in ("faithfulness", "answer_relevancy", "context_precision", "context_recall"):
        assert summary[name] == {"status": "not_run", "reason": NOT_CONFIGURED}
    paired = per_question(frame, ["hit@5"])
    assert paired["hit@5"]["leave"] == 1.0


def test_a_confident_answer_to_an_unanswerable_question_is_an_abstention_error(evaluated, embedder):
    answers, _ = evaluated
    [pets] = [a for a in answers.answers if a.case.id == "pets"]
    confident = replace(answers, answers=(replace(pets, answer="Ulaanbaatar."),))
    frame = score_answers(confident, embedder)
    assert frame.loc[0, "abstention_accuracy"] == 0.0
    assert bool(frame.loc[0, "abstained"]) is False


def test_evalset_digest_ignores_order_but_not_content():
    assert evalset_digest(CASES) == evalset_digest(list(reversed(CASES)))
    changed = [CASES[0].model_copy(update={"reference_answer": "30 days."}), *CASES[1:]]
    assert evalset_digest(changed) != evalset_digest(CASES)


def test_per_question_frame_round_trips_through_parquet(evaluated, embedder, tmp_path):
    from llmops.evaluation.scoring import write_scores

    frame = score_answers(evaluated[0], embedder)
    path = write_scores(frame, tmp_path, "answer", "v1")
    assert path.parent == tmp_path / "answer" / "v1"
    back = pd.read_parquet(path)
    assert back["id"].tolist() == ["leave", "receipts", "pets"]
    assert back["hit@5"].tolist()[:2] == [1.0, 1.0]
