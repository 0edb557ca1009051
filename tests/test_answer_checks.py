"""Abstention detection, content tokens and lexical groundedness on hand-checked answers."""

import pytest

from llmops.answering.checks import abstained, content_tokens, groundedness

CONTEXT = [
    "Employees get 25 days of annual leave per year.",
    "Up to 5 unused days can be carried over to the next year.",
]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("I don't know based on the handbook.", True),
        ("I do not know.", True),
        ("The handbook does not mention parental leave for contractors.", True),
        ("This is not covered in the passages.", True),
        ("I don’t know", True),
        ("You get 25 days of annual leave [leave/pto-policy.md].", False),
        ("Yes, you can carry over 5 days.", False),
        ("The pension match is 4.5% of salary [benefits/pension.md].", False),
    ],
)
def test_abstained(answer, expected):
    assert abstained(answer) is expected


def test_content_tokens_drop_stop_words_and_citations():
    tokens = content_tokens("You get 25 days of annual leave [leave/pto-policy.md].")
    assert tokens == ["25", "day", "annual", "leave"]


def test_content_tokens_keep_numbers_and_fold_plurals():
    tokens = content_tokens("The match is 4.5% and you have 3 weeks [benefits.md].")
    # "the", "is", "and", "you", "have" are stop words; the citation is gone; "weeks" folds.
    assert tokens == ["match", "4.5%", "3", "week"]
    assert content_tokens("Days off: 1,000 hours") == ["day", "1,000", "hour"]


def test_an_answer_copied_from_the_context_is_fully_grounded():
    result = groundedness("Employees get 25 days of annual leave per year.", CONTEXT)
    assert result is not None
    assert result.score == 1.0
    assert result.unsupported == ()
    assert result.tokens == 6  # employee, 25, day, annual, leave, year


def test_a_changed_number_is_unsupported():
    result = groundedness("You get 30 days of annual leave [leave/pto-policy.md].", CONTEXT)
    assert result is not None
    assert result.score < 1
    assert "30" in result.unsupported
    assert "25" not in result.unsupported


def test_score_is_one_minus_the_unsupported_share():
    # Tokens: 30, day, annual, leave, contractor -> "30" and "contractor" are unsupported.
    result = groundedness("Contractors get 30 days of annual leave.", CONTEXT)
    assert result is not None
    assert result.tokens == 5
    assert result.unsupported == ("contractor", "30")
    assert result.score == pytest.approx(1 - 2 / 5)


def test_a_repeated_unsupported_token_counts_every_time_but_is_listed_once():
    result = groundedness("30 days, 30 days.", CONTEXT)
    assert result is not None
    assert result.tokens == 4
    assert result.unsupported == ("30",)
    assert result.score == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("answer", "contexts"),
    [
        ("It is what it is.", CONTEXT),
        ("[leave/pto-policy.md]", CONTEXT),
        ("You get 25 days of annual leave.", []),
    ],
)
def test_nothing_to_check_returns_none(answer, contexts):
    assert groundedness(answer, contexts) is None
