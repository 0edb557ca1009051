"""The feedback loop: thumbs-down answers proposed as eval cases, approved into an eval set."""

import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from llmops.errors import InputError
from llmops.evaluation.evalsets import load_evalset
from llmops.evaluation.feedback import (
    approve,
    candidate_id,
    feedback_rates,
    load_proposal,
    propose_cases,
    write_proposals,
)
from llmops.storage.metadata.records import QueryRecord, RetrievedChunk
from pipelines.definitions import defs
from tests.support.files import write_docs


def _query(metadata, question: str, sources: tuple[str, ...] = ("leave.md",)) -> QueryRecord:
    record = QueryRecord(
        question=question,
        answer="You get 30 days.",
        prompt_name="answer",
        prompt_version="v1",
        table_name="chunks_x",
        table_version=3,
        embedding_model="m",
        chat_model="c",
        chunks=tuple(RetrievedChunk(f"c{i}", s, 0.8) for i, s in enumerate(sources)),
    )
    metadata.queries.log(record)
    return record


@pytest.fixture
def rated(metadata):
    first = _query(metadata, "How much annual leave do I get?", ("leave.md", "leave.md"))
    second = _query(metadata, "Who approves expenses?", ("expenses.md",))
    metadata.feedback.add(first.query_id, "down", "it is 27 days")
    metadata.feedback.add(first.query_id, "down", "27 days, not 30")
    metadata.feedback.add(second.query_id, "up")
    queries = {q.query_id: q for q in metadata.queries.find()}
    return first, second, queries


def test_each_thumbs_down_query_is_proposed_once_with_its_latest_comment(metadata, rated):
    first, _, queries = rated
    [proposal] = propose_cases(metadata.feedback.find(), queries)
    assert proposal.id == candidate_id(first.query_id)
    assert proposal.question == first.question
    assert proposal.answer_given == "You get 30 days."
    assert proposal.comment == "27 days, not 30"
    assert proposal.sources == ("leave.md",)
    assert proposal.prompt == "answer@v1"


def test_rates_per_day_and_prompt(metadata, rated):
    *_, queries = rated
    table = feedback_rates(metadata.feedback.find(), queries)
    [row] = table.to_dict("records")
    assert (row["up"], row["down"]) == (1, 2)
    assert row["down_rate"] == pytest.approx(2 / 3)
    assert row["day"] == datetime.now(UTC).date().isoformat()


def test_proposals_are_written_once_and_approval_moves_them_into_the_eval_set(
    metadata, rated, tmp_path
):
    *_, queries = rated
    docs, folder, evalset = tmp_path / "docs", tmp_path / "candidates", tmp_path / "set.jsonl"
    write_docs(docs, {"leave.md": "# Leave\n\n27 days.\n", "expenses.md": "# Expenses\n"})
    evalset.write_text(
        json.dumps({"id": "q1", "question": "Who?", "reference_answer": "x", "gold_sources": []})
        + "\n"
    )
    proposals = propose_cases(metadata.feedback.find(), queries)
    [written] = write_proposals(proposals, folder, evalset)
    assert write_proposals(proposals, folder, evalset) == []  # a person may be editing it
    case_id = written.stem

    with pytest.raises(InputError, match="not found in"):
        approve(folder, case_id, "27 days.", evalset, docs, gold_sources=["missing.md"])
    with pytest.raises(InputError, match="no proposed eval case 'fb-nope'"):
        approve(folder, "fb-nope", "27 days.", evalset, docs)
    with pytest.raises(InputError, match="empty"):
        approve(folder, case_id, "  ", evalset, docs)
    assert len(load_evalset(evalset)) == 1  # refused approvals changed nothing
    assert written.exists()

    case = approve(folder, case_id, "27 days a year.", evalset, docs)
    assert not written.exists()
    cases = load_evalset(evalset, docs)
    assert [c.id for c in cases] == ["q1", case_id]
    assert cases[1] == case
    assert case.gold_sources == ("leave.md",)
    assert case.tags == ("feedback",)
    assert write_proposals(proposals, folder, evalset) == []  # approved: not proposed again


def test_a_broken_proposal_file_names_itself(tmp_path):
    (tmp_path / "fb-1.json").write_text("{not json")
    with pytest.raises(InputError, match=r"fb-1\.json: not a proposed eval case"):
        load_proposal(tmp_path, "fb-1")


def test_the_negative_feedback_sensor_waits_for_enough_new_thumbs_down(
    metadata, tmp_path, monkeypatch
):
    monkeypatch.setenv("LLMOPS_DATABASE_URL", metadata.url)
    sensor = defs.resolve_sensor_def("negative_feedback")
    assert sensor.job_name == "propose_eval_cases"
    queries = [_query(metadata, f"Question {i}?") for i in range(4)]
    for q in queries[:2]:
        metadata.feedback.add(q.query_id, "down")
    metadata.feedback.add(queries[2].query_id, "up")
    with dg.instance_for_test() as instance:
        waiting = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert waiting.run_requests == []
        assert "2 new thumbs-down" in waiting.skip_message
        metadata.feedback.add(queries[3].query_id, "down")
        fired = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        [request] = fired.run_requests
        last = max(f.id for f in metadata.feedback.find())
        assert fired.cursor == str(last)
        assert request.run_key == f"feedback:{last}"
        again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=str(last)))
        assert again.run_requests == []
