"""Small models loop: the answer is cut where it starts a sentence it has already written."""

import pytest

from llmops.answering.checks import repetition_start


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "You get **27 days** [leave.md]. You get **27 days** [leave.md]. You",
            "You get **27 days** [leave.md]. ",
        ),
        ("Leave is 27 days.\n\nLeave is 27 days.\nLeave", "Leave is 27 days.\n\n"),
        # the same words in another case and without the citation still repeat
        ("Book it in Rota [a.md]. book it in rota. ", "Book it in Rota [a.md]. "),
    ],
)
def test_the_first_repeated_sentence_is_where_the_answer_stops(text: str, kept: str):
    assert text[: repetition_start(text)] == kept


@pytest.mark.parametrize(
    "text",
    [
        "One thing. Two things. One",  # a cut-off sentence is not a repeat
        "Part-time staff get 22 days. Full-time staff get 27 days.",
        "You get 27 days. You get 27 days",  # the second sentence is not finished
        "",
    ],
)
def test_distinct_sentences_are_kept(text: str):
    assert repetition_start(text) is None
