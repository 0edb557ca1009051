"""Judge calibration: the shipped hand-labelled set, row validation, agreement arithmetic."""

import json
import math

import pytest

from llmops.errors import InputError
from llmops.evaluation.calibration import (
    MIN_KAPPA,
    Agreement,
    Calibration,
    CalibrationCase,
    agreement,
    load_calibration_set,
)
from tests.support.files import CORPUS, PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "evalsets" / "judge_calibration.jsonl"

GOOD = {
    "id": "cal-x",
    "question": "How many days of annual leave do I get?",
    "context": "source: leave/pto-policy.md\nFull-time employees receive 27 working days.",
    "answer": "27 working days.",
    "faithful": True,
    "relevant": True,
    "note": "matches the context",
}


def _write(tmp_path, *rows: dict | str):
    path = tmp_path / "calibration.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


# --- the shipped set ---------------------------------------------------------------------------


def test_shipped_set_loads_and_is_balanced():
    cases = load_calibration_set(SHIPPED)
    assert len(cases) >= 30
    assert len({case.id for case in cases}) == len(cases)
    assert {case.faithful for case in cases} == {True, False}
    assert {case.relevant for case in cases} == {True, False}
    assert sum(not case.faithful for case in cases) >= 8
    assert sum(not case.relevant for case in cases) >= 5


def test_shipped_contexts_name_an_existing_corpus_document():
    for case in load_calibration_set(SHIPPED):
        first, _, passage = case.context.partition("\n")
        assert first.startswith("source: "), case.id
        assert (CORPUS / first.removeprefix("source: ")).is_file(), case.id
        assert passage.strip(), case.id
        assert case.note, case.id


# --- validation of rows --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (
            {k: v for k, v in GOOD.items() if k != "faithful"},
            ":2: faithful: Field required",
        ),
        ({**GOOD, "relevant": "maybe"}, ":2: relevant: Input should be a valid boolean"),
        ({**GOOD, "answer": 42}, ":2: answer: Input should be a valid string"),
        ({**GOOD, "question": "?"}, ":2: question: String should have at least 3 characters"),
        ({**GOOD, "score": 0.9}, ":2: score: Extra inputs are not permitted"),
        ('{"id": "cal-y", ', ":2: not valid JSON"),
    ],
)
def test_bad_rows_name_file_line_and_field(tmp_path, bad, says):
    path = _write(tmp_path, {**GOOD, "id": "cal-0"}, bad)
    with pytest.raises(InputError) as error:
        load_calibration_set(path)
    assert str(error.value).startswith(f"{path}:2: ")
    assert says in str(error.value)


def test_good_rows_load_and_note_is_optional(tmp_path):
    without_note = {k: v for k, v in GOOD.items() if k != "note"}
    cases = load_calibration_set(_write(tmp_path, GOOD, "", {**without_note, "id": "cal-y"}))
    assert [case.id for case in cases] == ["cal-x", "cal-y"]
    assert cases[1] == CalibrationCase(**{**without_note, "id": "cal-y"})
    assert cases[1].note == ""


def test_empty_set_is_an_input_error(tmp_path):
    path = _write(tmp_path, "")
    with pytest.raises(InputError, match="has no rows") as error:
        load_calibration_set(path)
    assert str(error.value).startswith(str(path))


# --- agreement arithmetic ----------------------------------------------------------------------


def test_agreement_on_a_hand_computed_case():
    human = [True, True, False, False, True, False, True, False]
    # 0.5 is a "yes" and 0.49 a "no": verdicts T, T, F, T, T, F, T, T (wrong on rows 4 and 8)
    scores = [0.9, 0.5, 0.49, 0.7, 1.0, 0.0, 0.8, 0.6]
    # p_o = 6/8 = 0.75
    # human says yes 4/8, judge says yes 6/8:
    # p_e = (4/8)(6/8) + (4/8)(2/8) = 0.375 + 0.125 = 0.5
    # kappa = (p_o - p_e) / (1 - p_e) = 0.25 / 0.5 = 0.5
    result = agreement(human, scores)
    assert result.n == 8
    assert result.accuracy == pytest.approx(0.75)
    assert result.kappa == pytest.approx(0.5)


def test_agreement_with_unbalanced_classes():
    human = [True, True, True, True, True, True, False, False, False, False]
    scores = [1, 1, 1, 1, 1, 0, 1, 0, 0, 0]  # one false "no", one false "yes"
    # p_o = 8/10; human yes 6/10, judge yes 6/10:
    # p_e = 0.6 * 0.6 + 0.4 * 0.4 = 0.52; kappa = (0.8 - 0.52) / (1 - 0.52) = 0.28 / 0.48
    result = agreement(human, scores)
    assert result.accuracy == pytest.approx(0.8)
    assert result.kappa == pytest.approx(0.28 / 0.48)


def test_perfect_and_inverted_judges():
    human = [True, False, True, False, False]
    assert agreement(human, [1.0, 0.0, 1.0, 0.0, 0.0]) == Agreement(n=5, accuracy=1.0, kappa=1.0)
    inverted = agreement(human, [0.0, 1.0, 0.0, 1.0, 1.0])
    assert inverted.accuracy == 0.0
    assert inverted.kappa < 0


@pytest.mark.parametrize("constant", [0.9, 0.1])
def test_a_judge_that_always_says_the_same_has_kappa_zero(constant):
    human = [True, True, True, False, True]
    result = agreement(human, [constant] * len(human))
    # always "yes" agrees on the 4 true rows, always "no" on the 1 false row
    assert result.accuracy == pytest.approx(0.8 if constant >= 0.5 else 0.2)
    assert result.kappa == 0.0
    assert not math.isnan(result.kappa)


def test_missing_scores_count_as_disagreements():
    human = [True, True, True, False, False, False]
    scores = [1.0, 1.0, math.nan, 0.0, 0.0, float("nan")]
    # NaN becomes the opposite of the human verdict: judge T, T, F, F, F, T
    # p_o = 4/6; human yes 3/6, judge yes 3/6: p_e = 0.5; kappa = (2/3 - 1/2) / (1/2) = 1/3
    # (dropping the NaN rows would give accuracy 1.0; reading NaN as "no" would give 5/6)
    result = agreement(human, scores)
    assert result.n == 6
    assert result.accuracy == pytest.approx(4 / 6)
    assert result.kappa == pytest.approx(1 / 3)


def test_all_scores_missing_is_total_disagreement():
    result = agreement([True, False, True], [math.nan] * 3)
    assert result.accuracy == 0.0
    assert result.kappa < 0


@pytest.mark.parametrize(
    ("human", "scores"),
    [([True, False], [1.0]), ([True], [1.0, 0.0]), ([], [])],
)
def test_agreement_needs_one_score_per_verdict(human, scores):
    with pytest.raises(ValueError, match="one judge score per human verdict"):
        agreement(human, scores)


# --- trust ---------------------------------------------------------------------------------------


def _agreement(kappa: float) -> Agreement:
    return Agreement(n=40, accuracy=0.9, kappa=kappa)


@pytest.mark.parametrize(
    ("faithful", "relevant", "trusted"),
    [
        (0.8, 0.7, True),
        (MIN_KAPPA, MIN_KAPPA, True),
        (0.59, 0.9, False),
        (0.9, 0.59, False),
        (0.0, 0.0, False),
    ],
)
def test_trusted_needs_both_kappas_at_or_above_the_threshold(faithful, relevant, trusted):
    calibration = Calibration(
        model="judge", faithful=_agreement(faithful), relevant=_agreement(relevant)
    )
    assert MIN_KAPPA == 0.6
    assert calibration.trusted is trusted


def test_min_kappa_can_be_raised():
    calibration = Calibration(
        model="judge", faithful=_agreement(0.75), relevant=_agreement(0.75), min_kappa=0.8
    )
    assert calibration.trusted is False
    assert Calibration("judge", _agreement(0.8), _agreement(0.85), min_kappa=0.8).trusted


def test_as_dict_shape():
    calibration = Calibration(
        model="gpt-judge",
        faithful=Agreement(n=40, accuracy=0.925, kappa=0.84567),
        relevant=Agreement(n=40, accuracy=0.7, kappa=0.512345),
    )
    assert calibration.as_dict() == {
        "model": "gpt-judge",
        "trusted": False,
        "min_kappa": 0.6,
        "agreement": {
            "faithful": {"n": 40, "accuracy": 0.925, "kappa": 0.8457},
            "relevant": {"n": 40, "accuracy": 0.7, "kappa": 0.5123},
        },
    }
    json.dumps(calibration.as_dict())  # plain JSON, as the CLI prints it
