"""Eval set files: schema, validation errors with file, line and field, the shipped set."""

import json
from collections import Counter

import pytest

from llmops.errors import InputError
from llmops.evaluation.evalsets import EvalCase, load_evalset
from tests.support.files import CORPUS, PROJECT_ROOT

GOOD = {
    "id": "q1",
    "question": "How many days of annual leave?",
    "reference_answer": "27 days.",
    "gold_sources": ["leave/pto-policy.md"],
    "tags": ["direct"],
}


def _write(tmp_path, *rows: dict | str):
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_schema_file_matches_the_model():
    schema = json.loads((PROJECT_ROOT / "evalsets" / "schema.json").read_text())
    assert schema == EvalCase.model_json_schema()


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({**GOOD, "question": ""}, ":2: question: String should have at least 3 characters"),
        (
            {**GOOD, "reference_answer": None},
            ":2: reference_answer: Input should be a valid string",
        ),
        ({**GOOD, "gold_sources": "leave/pto-policy.md"}, ":2: gold_sources: "),
        ({**GOOD, "gold_sources": ["../secret.md"]}, ":2: gold_sources: Value error"),
        ({**GOOD, "owner": "me"}, ":2: owner: Extra inputs are not permitted"),
        ('{"id": "q2", ', ":2: not valid JSON"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, bad, says):
    path = _write(tmp_path, {**GOOD, "id": "q0"}, bad)
    with pytest.raises(InputError) as error:
        load_evalset(path)
    assert str(error.value).startswith(f"{path}:2: ")
    assert says in str(error.value)


def test_duplicate_ids_and_missing_sources(tmp_path):
    with pytest.raises(InputError, match="duplicate id"):
        load_evalset(_write(tmp_path, GOOD, GOOD))
    path = _write(tmp_path, GOOD, "", {**GOOD, "id": "q2", "gold_sources": ["leave/nope.md"]})
    with pytest.raises(InputError, match=r":3: gold_sources: leave/nope.md not found"):
        load_evalset(path, docs_dir=CORPUS)


def test_shipped_handbook_set_is_valid_and_balanced():
    cases = load_evalset(PROJECT_ROOT / "evalsets" / "handbook.jsonl", docs_dir=CORPUS)
    assert len(cases) >= 40
    tags = Counter(tag for case in cases for tag in case.tags)
    assert tags["paraphrase"] >= 6
    assert tags["multi-doc"] >= 3
    assert tags["unanswerable"] >= 3
    for case in cases:
        assert case.answerable == ("unanswerable" not in case.tags), case.id
        if "multi-doc" in case.tags:
            assert len(set(case.gold_sources)) >= 2, case.id
    covered = {source.split("/")[0] for case in cases for source in case.gold_sources}
    assert covered >= {"leave", "expenses", "it-security", "onboarding", "benefits", "travel"}
