"""PII check: accuracy on the labelled set, checksum negatives, secrets, offline use, settings."""

import json
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from llmops.errors import InputError
from llmops.guardrails.pii import OfflineEmailRecognizer, PiiCheck, score_spans
from llmops.guardrails.pii_settings import PATTERN_ENTITIES, SECRET_ENTITIES, PiiSettings
from llmops.guardrails.verdicts import Span

EVALSET = Path(__file__).resolve().parent.parent / "evalsets" / "pii.jsonl"


@pytest.fixture(scope="module")
def check() -> PiiCheck:
    return PiiCheck(PiiSettings())


def _types(check: PiiCheck, text: str) -> list[str]:
    return [s.type for s in check.inspect(text).spans]


def test_precision_and_recall_on_labelled_set(check):
    rows = [json.loads(line) for line in EVALSET.read_text().splitlines()]
    assert len(rows) >= 600
    expected = [[Span(**s) for s in row["spans"]] for row in rows]
    predicted = [check.inspect(row["text"]).spans for row in rows]

    scores = score_spans(expected, predicted)
    for entity, row in scores.items():
        print(f"{entity:14s} P={row['precision']:.3f} R={row['recall']:.3f} n={row['support']}")
    for entity in (*PATTERN_ENTITIES, *SECRET_ENTITIES, "overall"):
        assert scores[entity]["support"] >= 20, entity
        assert scores[entity]["recall"] >= 0.95, (entity, scores[entity])
        assert scores[entity]["precision"] >= 0.95, (entity, scores[entity])

    true_spans = {(s.type, s.start, s.end, i) for i, spans in enumerate(expected) for s in spans}
    found = {(s.type, s.start, s.end, i) for i, spans in enumerate(predicted) for s in spans}
    exact = len(true_spans & found) / len(true_spans)
    print(f"exact boundaries: {exact:.3f}")
    assert exact >= 0.95


def test_score_spans_counts_overlap_of_same_type_only():
    truth = [[Span(type="EMAIL_ADDRESS", start=0, end=10)], []]
    found = [
        [Span(type="EMAIL_ADDRESS", start=2, end=10), Span(type="PHONE_NUMBER", start=0, end=4)],
        [Span(type="PHONE_NUMBER", start=0, end=4)],
    ]
    scores = score_spans(truth, found)
    assert scores["EMAIL_ADDRESS"] == {"precision": 1.0, "recall": 1.0, "support": 1}
    assert scores["PHONE_NUMBER"]["precision"] == 0.0
    assert scores["overall"]["precision"] == pytest.approx(1 / 3)


def test_verdict_fields(check):
    text = "Mail jo.smith@example.com or pay 4111 1111 1111 1111."
    verdict = check.inspect(text)
    assert verdict.triggered
    assert verdict.check == "pii"
    assert verdict.action == "redact"
    assert verdict.reason == "2 PII spans: EMAIL_ADDRESS, CREDIT_CARD"
    assert verdict.score == 1.0
    assert [text[s.start : s.end] for s in verdict.spans] == [
        "jo.smith@example.com",
        "4111 1111 1111 1111",
    ]
    clean = check.inspect("How many days of leave do I get in 2025?")
    assert (clean.triggered, clean.reason, clean.score, clean.spans) == (
        False,
        "no PII found",
        0.0,
        [],
    )


def test_checksum_failures_are_not_flagged(check):
    assert _types(check, "My card is 4111 1111 1111 1112.") == []
    assert _types(check, "Pay into DE88 3704 0044 0532 0130 00 please.") == []
    assert _types(check, "Pay into DE89 3704 0044 0532 0130 00 please.") == ["IBAN_CODE"]
    assert _types(check, "SSN 000-12-3456 or 666-12-3456?") == []


def test_pem_block_across_lines_is_one_span(check):
    key = (
        "-----BEGIN RSA PRIVATE KEY-----\n"
        "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
        "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
        "-----END RSA PRIVATE KEY-----"
    )
    text = f"Is this safe to paste?\n{key}\nthanks"
    spans = check.inspect(text).spans
    assert [(s.type, text[s.start : s.end]) for s in spans] == [("PRIVATE_KEY", key)]


def test_jwt_and_tokens_found(check):
    jwt = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    text = f"Authorization: Bearer {jwt}"
    spans = check.inspect(text).spans
    assert [(s.type, text[s.start : s.end]) for s in spans] == [("ACCESS_TOKEN", jwt)]
    assert _types(check, "key AKIAIOSFODNN7EXAMPLE") == ["API_KEY"]
    assert _types(check, "token ghp_" + "a1B2" * 9) == ["ACCESS_TOKEN"]


def test_hashes_and_long_words_are_not_secrets(check):
    text = (
        "Commit 3f786850e387550fdab836ed7e6dc881de23001b fixed the "
        "internationalization of antidisestablishmentarianism in v2.14.3."
    )
    assert _types(check, text) == []


def test_analysis_needs_no_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    for owner, name in [
        (socket.socket, "connect"),
        (socket, "create_connection"),
        (socket, "getaddrinfo"),
    ]:
        monkeypatch.setattr(owner, name, refuse)
    monkeypatch.setattr(OfflineEmailRecognizer._extract, "_extractor", None)
    check = PiiCheck(PiiSettings(entities=["EMAIL_ADDRESS"]))
    text = "write to ana.lopez@startup.io or ana@example.notarealtld"
    spans = check.inspect(text).spans
    assert [text[s.start : s.end] for s in spans] == ["ana.lopez@startup.io"]
    assert attempts == []


def test_entities_setting_limits_what_is_found():
    check = PiiCheck(PiiSettings(entities=["CREDIT_CARD"], action="block"))
    verdict = check.inspect("jo@example.com 4111 1111 1111 1111")
    assert [s.type for s in verdict.spans] == ["CREDIT_CARD"]
    assert verdict.action == "block"


def test_unknown_entity_is_rejected_with_known_list():
    with pytest.raises(InputError, match=r"unknown entities \['EMAIL'\].*EMAIL_ADDRESS"):
        PiiSettings(entities=["EMAIL"])


def test_person_without_nlp_model_is_rejected():
    with pytest.raises(InputError, match=r"need a named-entity model.*nlp_model"):
        PiiSettings(entities=["EMAIL_ADDRESS", "PERSON"])


def test_missing_nlp_model_is_rejected_not_downloaded():
    with pytest.raises(InputError, match="not installed"):
        PiiSettings(entities=["PERSON"], nlp_model="en_core_web_sm")


def test_extra_field_is_rejected():
    with pytest.raises(ValidationError, match="extra"):
        PiiSettings(treshold=0.4)


@pytest.mark.parametrize(
    "text",
    [
        "My reference is 999-99-99999, can you check it?",
        "Parcel 12 4111 1111 1111 1111 99 was shipped today.",
        "Tracking code 4111-1111-1111-1111-2233 is on the label.",
    ],
)
def test_near_misses_are_left_alone(check, text):
    """An SSN shape with a wrong group length is no phone number; a Luhn-valid card inside a
    longer digit run with no card named before it is no card."""
    assert check.inspect(text).spans == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Charge my card: 12 4111 1111 1111 1111 99 please", "4111 1111 1111 1111"),
        ("Pay with card 4111 1111 1111 1111 0000", "4111 1111 1111 1111"),
        ("Call me on 202-555-0173 after five.", "202-555-0173"),
    ],
)
def test_a_card_in_a_digit_run_with_card_context_is_still_found(check, text, value):
    [span] = check.inspect(text).spans
    assert text[span.start : span.end] == value
