"""The ragas judge path over real HTTP: replies parsed, calls metered, calibration measured."""

import json

import pytest
from pydantic import BaseModel

from llmops.costs.budget import BudgetExceededError, BudgetLimits
from llmops.evaluation.calibration import load_calibration_set
from llmops.evaluation.judge import Judge, JudgeInput, calibrate
from llmops.evaluation.judge_model import JudgeOutputError, JudgeSettings, parse_reply
from llmops.evaluation.ragas_adapters import MeteredJudgeLLM
from resources.llm import LLMClient
from tests.support import rule_judge
from tests.support.files import PROJECT_ROOT
from tests.support.llm_server import ScriptedLLMServer, ok

CONTEXT = "Every employee gets 27 days of annual leave a year, plus public holidays."
CALIBRATION = load_calibration_set(PROJECT_ROOT / "evalsets" / "judge_calibration.jsonl")
LIMITS = BudgetLimits(max_input_tokens=2048, max_output_tokens=256)


def _judge(server, metadata, embedder, repeats=1, limits=LIMITS) -> Judge:
    llm = LLMClient(base_url=server.base_url, api_key="k", model="gpt-4o-mini", retry_base_s=0.01)
    settings = JudgeSettings(model="gpt-4o-mini", repeats=repeats)
    return Judge(MeteredJudgeLLM(llm, metadata, settings, limits), embedder)


class Verdict(BaseModel):
    verdict: int


def test_parse_reply_reads_json_out_of_prose_and_names_bad_shapes():
    assert parse_reply('Sure:\n```json\n{"verdict": 1}\n```', Verdict).verdict == 1
    with pytest.raises(JudgeOutputError, match="no JSON object"):
        parse_reply("I think it is faithful.", Verdict)
    with pytest.raises(JudgeOutputError, match="not a valid Verdict"):
        parse_reply('{"verdict": "often"}', Verdict)


def test_judge_calls_are_metered_with_purpose_judge(metadata, embedder):
    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        judge = _judge(server, metadata, embedder)
        scores = judge.score(
            JudgeInput(
                "How much leave?", "You get 27 days of annual leave.", (CONTEXT,), None, True
            )
        )
    assert scores["faithfulness"].value == 1.0
    ledger = metadata.usage.find()
    assert len(ledger) == len(server.received) > 0
    assert {u.purpose for u in ledger} == {"judge"}
    assert sum(u.cost_usd for u in ledger) == pytest.approx(judge.llm.cost_usd)
    assert judge.llm.cost_usd > 0


def test_faithfulness_falls_for_an_invented_number_and_applicability_follows_the_case(
    metadata, embedder
):
    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        judge = _judge(server, metadata, embedder)
        invented = judge.score(
            JudgeInput(
                "How much leave?",
                "You get 27 days of annual leave. Unused days pay out at 150% in March.",
                (CONTEXT,),
                "27 days a year.",
                True,
            )
        )
        abstention = judge.score(
            JudgeInput("Is there a company car?", "I don't know.", (CONTEXT,), None, False)
        )
    assert invented["faithfulness"].value == 0.5
    assert set(invented) == {
        "faithfulness",
        "answer_relevancy",
        "context_precision",
        "context_recall",
    }
    assert abstention == {}


def test_repeats_judge_each_question_n_times(metadata, embedder):
    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        judge = _judge(server, metadata, embedder, repeats=3)
        scores = judge.score(
            JudgeInput("How much leave?", "27 days.", (CONTEXT,), None, True), ("faithfulness",)
        )
    assert len(server.received) == 3 * 2  # statements, then verdicts, three times
    assert scores["faithfulness"].sd == 0.0


def test_an_unparseable_judge_reply_is_a_missing_score_with_its_reason(metadata, embedder):
    with ScriptedLLMServer() as server:
        server.script(ok("The answer looks faithful to me."))
        judge = _judge(server, metadata, embedder)
        scores = judge.score(
            JudgeInput("How much leave?", "27 days.", (CONTEXT,), None, True), ("faithfulness",)
        )
    assert scores["faithfulness"].value != scores["faithfulness"].value  # NaN
    assert "no JSON object" in scores["faithfulness"].error


def test_the_daily_budget_stops_the_judge_before_any_request(metadata, embedder):
    tight = BudgetLimits(max_input_tokens=2048, max_output_tokens=256, daily_budget_usd=0.0)
    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        judge = _judge(server, metadata, embedder, limits=tight)
        with pytest.raises(BudgetExceededError):
            judge.score(JudgeInput("How much leave?", "27 days.", (CONTEXT,), None, True))
    assert server.received == []
    [refused] = metadata.usage.find()
    assert (refused.purpose, refused.status, refused.cost_usd) == ("judge", "refused", 0.0)


def _perfect(body: dict):
    """A judge that agrees with the people on every calibration row."""
    prompt = body["messages"][-1]["content"]
    data = rule_judge.judge_input(prompt)
    by_answer = {c.answer: c for c in CALIBRATION}
    if "Break down each sentence" in prompt:
        reply = {"statements": [data["answer"]]}
    elif "judge the faithfulness" in prompt:
        [statement] = data["statements"]
        verdict = int(by_answer[statement].faithful)
        reply = {"statements": [{"statement": statement, "reason": "-", "verdict": verdict}]}
    else:
        case = by_answer[data["response"]]
        question = case.question if case.relevant else "Which moons orbit Jupiter?"
        reply = {"question": question, "noncommittal": 0}
    return ok(json.dumps(reply), prompt_tokens=100, completion_tokens=20)


@pytest.mark.slow
def test_calibration_trusts_an_agreeing_judge_and_not_a_word_overlap_one(metadata, embedder):
    with ScriptedLLMServer(responder=_perfect) as server:
        agreeing = calibrate(_judge(server, metadata, embedder), CALIBRATION)
    assert agreeing.faithful.accuracy == 1.0
    assert agreeing.faithful.kappa == 1.0
    assert agreeing.relevant.kappa >= 0.9
    assert agreeing.trusted

    with ScriptedLLMServer(responder=rule_judge.respond) as server:
        overlap = calibrate(_judge(server, metadata, embedder), CALIBRATION)
    assert overlap.faithful.n == len(CALIBRATION) >= 30
    assert min(overlap.faithful.kappa, overlap.relevant.kappa) < 0.6
    assert not overlap.trusted
    assert overlap.as_dict()["trusted"] is False
