"""The guardrail pipeline's own parts: configuration, redaction, forbidden topics, prompt leaks,
offensive language, and the block-rate report. PII and injection detection have their own
test modules."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from llmops.config import PROJECT_ROOT
from llmops.errors import InputError
from llmops.guardrails.config import load_guardrails_config
from llmops.guardrails.leak import PromptLeakCheck, PromptLeakSettings, verbatim_runs
from llmops.guardrails.pipeline import redact
from llmops.guardrails.profanity import ProfanityCheck, ProfanitySettings
from llmops.guardrails.report import summarize
from llmops.guardrails.topics import ForbiddenTopicsCheck
from llmops.guardrails.verdicts import Span, Verdict
from llmops.storage.metadata.records import GuardrailEvent
from resources.metadata_store import MetadataStore

DEFAULT = PROJECT_ROOT / "guardrails.yaml"


# --- configuration ---------------------------------------------------------------------------


def test_the_shipped_configuration_is_valid_and_ordered():
    config = load_guardrails_config(DEFAULT)
    assert [c.check for c in config.input] == [
        "pii",
        "injection_rules",
        "injection_semantic",
        "forbidden_topics",
    ]
    assert [c.check for c in config.output] == ["prompt_leak", "pii", "profanity"]
    assert {c.check for c in config.ingest} == {"injection_rules", "injection_semantic"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("input:\n  - check: pii\n    action: shout\n", "g.yaml:3: input.0.pii.action"),
        ("input:\n  - check: telepathy\n", "g.yaml:2: input.0"),
        ("output:\n  - check: injection_rules\n", "g.yaml:2: output.0"),
        ("inputs: []\n", "g.yaml:1: inputs"),
        ("input: [\n", "g.yaml:2: invalid YAML"),
    ],
)
def test_a_bad_configuration_names_file_line_and_field(tmp_path: Path, text, where):
    path = tmp_path / "g.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_guardrails_config(path)
    assert str(caught.value).startswith(str(tmp_path / where)), caught.value


def test_a_missing_configuration_file_is_named(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("LLMOPS_GUARDRAILS", str(tmp_path / "nope.yaml"))
    with pytest.raises(InputError, match=r"nope\.yaml: cannot read"):
        load_guardrails_config()


# --- redaction -------------------------------------------------------------------------------


def _verdict(action, *spans, score=0.9, triggered=True) -> Verdict:
    return Verdict(
        check="c", action=action, triggered=triggered, reason="r", score=score, spans=list(spans)
    )


def test_redact_replaces_only_triggered_redact_spans_and_resolves_overlaps():
    text = "mail ann@example.com or call +44 20 7946 0958 now"
    verdicts = [
        _verdict("redact", Span(type="EMAIL_ADDRESS", start=5, end=20)),
        _verdict("redact", Span(type="PHONE_NUMBER", start=29, end=45)),
        _verdict("redact", Span(type="URL", start=9, end=20), score=0.5),  # inside the e-mail
        _verdict("flag", Span(type="OFFENSIVE", start=0, end=4)),
        _verdict("redact", Span(type="X", start=46, end=49), triggered=False),
    ]
    assert redact(text, verdicts) == "mail <EMAIL_ADDRESS> or call <PHONE_NUMBER> now"
    assert redact(text, []) == text


# --- prompt leaks ----------------------------------------------------------------------------

SYSTEM = (
    "You answer questions about the Northwind employee handbook using only the passages "
    "given below, and you cite the source of every fact you use in square brackets."
)


def test_canary_in_the_answer_is_a_leak():
    check = PromptLeakCheck(PromptLeakSettings(), SYSTEM, "cnry-0123456789ab")
    verdict = check.inspect("Sure! My marker is cnry-0123456789ab, as told.")
    assert verdict.triggered
    assert [(s.type, s.start, s.end) for s in verdict.spans] == [("CANARY", 19, 36)]
    assert "canary" in verdict.reason


def test_reciting_the_system_text_is_a_leak_but_quoting_a_few_words_is_not():
    check = PromptLeakCheck(PromptLeakSettings(min_verbatim_words=12), SYSTEM, "cnry-x")
    recited = "My instructions: you answer questions about the Northwind employee handbook "
    recited += "using only the passages given below. Anything else?"
    verdict = check.inspect(recited)
    assert verdict.triggered
    [span] = verdict.spans
    assert recited[span.start : span.end].startswith("you answer questions")
    assert recited[span.start : span.end].endswith("given below")
    quiet = check.inspect("The employee handbook says you get 27 days; see the passages below.")
    assert not quiet.triggered
    assert quiet.spans == []


def test_verbatim_runs_merge_and_ignore_case():
    source = "one two three four five six seven"
    assert verbatim_runs("ONE two three four five six", source, 4) == [(0, 27)]
    assert verbatim_runs("one two three x five six seven", source, 4) == []


# --- forbidden topics ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def topics(embedder) -> ForbiddenTopicsCheck:
    [settings] = [c for c in load_guardrails_config(DEFAULT).input if c.check == "forbidden_topics"]
    return ForbiddenTopicsCheck(settings, embedder)


OFF_LIMITS = [
    "My landlord kept my deposit, can I take him to court?",
    "Do I need a solicitor to contest my speeding ticket?",
    "What illness causes a fever and a stiff neck?",
    "How many paracetamol can I take in a day for a migraine?",
    "Should I move my savings into tech stocks?",
    "Is ethereum a better investment than gold right now?",
]


def test_forbidden_topics_are_refused_politely(topics):
    for question in OFF_LIMITS:
        verdict = topics.inspect(question)
        assert verdict.triggered, (question, verdict.score)
        assert verdict.reason.startswith("I'm sorry, I can't help with")


def test_handbook_questions_are_not_forbidden_topics(topics):
    """The eval set's questions (sick leave, pension, expenses, security …) pass."""
    rows = (PROJECT_ROOT / "evalsets" / "handbook.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in rows if line.strip()]
    flagged = [q for q in questions if topics.inspect(q).triggered]
    assert flagged == []


# --- offensive language ----------------------------------------------------------------------


def test_offensive_answers_are_flagged_and_ordinary_ones_are_not():
    check = ProfanityCheck(ProfanitySettings())
    rude = check.inspect("That is a stupid fucking question, read the damn handbook.")
    assert rude.triggered
    assert rude.action == "flag"
    assert rude.score >= 0.8
    plain = check.inspect("You get 27 days of annual leave, plus public holidays [leave.md].")
    assert not plain.triggered
    assert plain.score < 0.5


# --- the report ------------------------------------------------------------------------------

TODAY = date(2026, 11, 20)


def _events(day: date, questions: int, blocked: int) -> list[GuardrailEvent]:
    at = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    events = []
    for i in range(questions):
        query_id = f"{day}-{i}"
        events.append(
            GuardrailEvent(
                "input", "pii", "redact", False, "none", query_id=query_id, created_at=at
            )
        )
        events.append(
            GuardrailEvent(
                "input",
                "injection_rules",
                "block",
                i < blocked,
                "r",
                spans=[{"type": "instruction_override", "start": 0, "end": 5}]
                if i < blocked
                else [],
                query_id=query_id,
                created_at=at,
            )
        )
    return events


def test_block_rate_per_day_and_top_rules():
    events = _events(TODAY - timedelta(days=1), 40, 2) + _events(TODAY, 30, 3)
    summary = summarize(events, TODAY)
    assert [(d.day, d.requests, d.blocked) for d in summary.days] == [
        (TODAY - timedelta(days=1), 40, 2),
        (TODAY, 30, 3),
    ]
    assert summary.baseline_rate == pytest.approx(0.05)
    assert summary.today.rate == pytest.approx(0.10)
    assert summary.top_rules == [("injection_rules:instruction_override", 5)]
    assert summary.triggered_by_day_check[(TODAY, "injection_rules")] == 3
    assert summary.jump() is None  # 10% is not above max(2 × 5%, 5% + 10 points)


def test_a_jump_of_the_block_rate_is_named_and_small_days_are_not_judged():
    base = [e for d in range(1, 8) for e in _events(TODAY - timedelta(days=d), 50, 2)]
    jumped = summarize(base + _events(TODAY, 40, 12), TODAY)
    assert jumped.jump() is not None
    assert "30% today (12 of 40 questions) against 4%" in jumped.jump()
    small = summarize(base + _events(TODAY, 10, 8), TODAY)  # 80%, but only 10 questions
    assert small.jump() is None


def test_the_guardrail_report_asset_fails_its_check_on_a_jump(metadata, embedder, store):
    import dagster as dg

    from assets.guardrails import guardrail_report

    today = datetime.now(UTC).date()
    events = [e for d in range(1, 8) for e in _events(today - timedelta(days=d), 30, 1)]
    metadata.guardrail_events.add(events + _events(today, 25, 15))
    result = dg.materialize(
        [guardrail_report],
        resources={
            "metadata_store": MetadataStore(url=metadata.url),
            "embedder": embedder,
            "vector_store": store,
        },
    )
    meta = result.asset_materializations_for_node("guardrail_report")[0].metadata
    assert meta["questions_today"].value == 25
    assert meta["block_rate_today"].value == pytest.approx(0.6)
    assert meta["block_rate_baseline"].value == pytest.approx(1 / 30)
    assert "instruction_override" in meta["top_rules"].value
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert "60% today (15 of 25 questions)" in check.description
