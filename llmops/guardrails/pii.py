"""PII and secrets check: Presidio's pattern recognizers, offline, on a blank spaCy pipeline.

What is detected without any model: e-mail addresses, phone numbers (libphonenumber, for the
regions of Presidio's `PhoneRecognizer`: US, GB, DE, FR, IL, IN, CA, BR), credit card numbers
(Luhn-checked), IBANs (mod-97-checked), IPv4/IPv6 addresses, US SSNs, and secrets (API keys,
access tokens, PEM private keys). Names and addresses (PERSON, LOCATION) need a named-entity
model: install a spaCy pipeline (e.g. `en_core_web_sm`) and set `nlp_model`; without it those
entities are *not* detected, and asking for them is a configuration error.

Everything runs offline: the spaCy pipeline is `spacy.blank("en")` unless `nlp_model` names an
installed package (never downloaded), and e-mail domains are validated against tldextract's
bundled public-suffix snapshot instead of the list it would fetch from the network.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict

import numpy as np
import spacy
import tldextract
from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    Pattern,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
)
from spacy.language import Language
from spacy.tokens import Doc

from llmops.guardrails.pii_settings import (
    NER_ENTITIES,
    SECRET_ENTITIES,
    PiiSettings,
)
from llmops.guardrails.verdicts import Action, Span, Verdict

_PRIORITY = {
    entity: rank
    for rank, entity in enumerate(
        (
            *SECRET_ENTITIES[::-1],
            "IBAN_CODE",
            "CREDIT_CARD",
            "US_SSN",
            "EMAIL_ADDRESS",
            "IP_ADDRESS",
            "PHONE_NUMBER",
            *NER_ENTITIES,
        )
    )
}

_LANGUAGE = "en"
# Presidio's card pattern predates Mastercard's 2221-2720 range; Luhn still validates these.
_MASTERCARD_2_SERIES = Pattern(
    "Mastercard 2-series (weak)", r"\b(2[2-7]\d{2})[- ]?(\d{4})[- ]?(\d{4})[- ]?(\d{4})\b", 0.3
)
_SECRET_SCORE = 0.9

# Presidio ships no secret recognizers; these are plain `PatternRecognizer`s. The registry
# compiles every pattern case-insensitively, so case-significant prefixes use `(?-i:...)`.
_SECRET_PATTERNS: dict[str, list[Pattern]] = {
    "API_KEY": [
        Pattern(
            "OpenAI key",
            r"(?-i:\bsk-(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_-]*[0-9])"
            r"(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-]))",
            _SECRET_SCORE,
        ),
        Pattern("AWS access key id", r"(?-i:\b(?:AKIA|ASIA)[A-Z0-9]{16}\b)", _SECRET_SCORE),
        Pattern(
            "AWS secret key (labelled)",
            r"(?<=\b(?:aws[ _-]?)?secret[ _-]?(?:access[ _-]?)?key[\"']?\s*(?:[:=]|is)\s*[\"']?)"
            r"(?-i:[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
            0.8,
        ),
        Pattern(
            "Google API key",
            r"(?-i:\bAIza[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
            _SECRET_SCORE,
        ),
    ],
    "ACCESS_TOKEN": [
        Pattern("GitHub token", r"(?-i:\bgh[pousr]_[A-Za-z0-9]{36}\b)", _SECRET_SCORE),
        Pattern(
            "GitHub fine-grained token",
            r"(?-i:\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b)",
            _SECRET_SCORE,
        ),
        Pattern(
            "Slack token",
            r"(?-i:\bxox[abpr]-[0-9]{6,}-[0-9A-Za-z-]*[0-9A-Za-z])(?![0-9A-Za-z-])",
            _SECRET_SCORE,
        ),
        Pattern(
            "JWT",
            r"(?-i:\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,})"
            r"(?![A-Za-z0-9_-])",
            _SECRET_SCORE,
        ),
    ],
    "PRIVATE_KEY": [
        Pattern(
            "PEM private key",
            r"-----BEGIN[A-Z0-9 ]* PRIVATE KEY-----(?:(?!-----)[\s\S])+"
            r"-----END[A-Z0-9 ]* PRIVATE KEY-----",
            1.0,
        ),
        Pattern(
            "PEM private key (truncated)",
            r"-----BEGIN[A-Z0-9 ]* PRIVATE KEY-----(?:\s*[A-Za-z0-9+/=]{16,})+",
            _SECRET_SCORE,
        ),
    ],
}


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating the domain against tldextract's bundled
    public-suffix snapshot; the default extractor fetches the list over the network."""

    _extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    def validate_result(self, pattern_text: str) -> bool:
        return self._extract(pattern_text).fqdn != ""


@Language.component("llmops_lowercase_lemma")
def _lowercase_lemma(doc: Doc) -> Doc:
    """A blank pipeline has no lemmatizer; Presidio's context words are matched against
    lemmas, so use the lowercased token instead."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


class _PreloadedSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine around a pipeline we built (it would otherwise load, and
    possibly download, a model by name)."""

    def __init__(self, nlp: Language, model_name: str) -> None:
        super().__init__(
            models=[{"lang_code": _LANGUAGE, "model_name": model_name}],
            ner_model_configuration=NerModelConfiguration(),
        )
        self.nlp = {_LANGUAGE: nlp}

    def load(self) -> None:
        pass


def _recognizers(entities: frozenset[str], threshold: float) -> list[EntityRecognizer]:
    phone = PhoneRecognizer()
    phone.score_thresholds = {"PHONE_NUMBER": min(threshold, PhoneRecognizer.SCORE)}
    recognizers: list[EntityRecognizer] = [
        OfflineEmailRecognizer(),
        phone,
        CreditCardRecognizer(patterns=[*CreditCardRecognizer.PATTERNS, _MASTERCARD_2_SERIES]),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
    ]
    recognizers += [
        PatternRecognizer(supported_entity=entity, patterns=patterns, name=f"{entity}_secrets")
        for entity, patterns in _SECRET_PATTERNS.items()
    ]
    if entities & set(NER_ENTITIES):
        recognizers.append(SpacyRecognizer(supported_entities=list(NER_ENTITIES)))
    return [r for r in recognizers if entities & set(r.supported_entities)]


@functools.cache
def _nlp(nlp_model: str | None) -> Language:
    if nlp_model:
        return spacy.load(nlp_model)
    nlp = spacy.blank(_LANGUAGE)
    nlp.add_pipe("llmops_lowercase_lemma")
    return nlp


@functools.cache
def _analyzer(entities: frozenset[str], nlp_model: str | None, threshold: float) -> AnalyzerEngine:
    """One engine per configuration and process: building it is slow, analysing is not."""
    registry = RecognizerRegistry(
        recognizers=_recognizers(entities, threshold), supported_languages=[_LANGUAGE]
    )
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=_PreloadedSpacyNlpEngine(_nlp(nlp_model), nlp_model or "blank"),
        supported_languages=[_LANGUAGE],
        default_score_threshold=threshold,
    )


def _resolve_overlaps(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Keep one label per stretch of text, the most specific type first.

    Presidio only de-duplicates spans of the same type, so one value can come back under
    two labels: Luhn-passing digits inside an IBAN, an SSN or IP address that libphonenumber
    also accepts, a token in a URL's user part that looks like an e-mail.
    """
    kept: list[RecognizerResult] = []
    for result in sorted(results, key=lambda r: (_PRIORITY[r.entity_type], r.start - r.end)):
        if all(result.end <= k.start or k.end <= result.start for k in kept):
            kept.append(result)
    return sorted(kept, key=lambda r: (r.start, r.end))


# "999-99-99999": the 3-2-N dash grouping of an SSN, which libphonenumber still accepts as a
# phone number in some region; no phone plan of Presidio's regions is written that way.
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d+")
_CARD_CONTEXT = re.compile(
    r"\b(?:card|credit|debit|visa|mastercard|amex|american express|discover|cc|pan)\b", re.I
)
_DIGIT_RUN_EDGE = re.compile(r"[- ]?\d")


def _near_misses(text: str, results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop what only looks like PII: an SSN-shaped number as a phone number, and a card
    number that is part of a longer digit run (more digit groups before or after it) unless
    the 40 characters before it name a card."""
    kept = []
    for result in results:
        value = text[result.start : result.end]
        if result.entity_type == "PHONE_NUMBER" and _SSN_SHAPE.fullmatch(value.strip("()+ ")):
            continue
        if result.entity_type == "CREDIT_CARD":
            before = text[max(0, result.start - 2) : result.start][::-1]
            longer = _DIGIT_RUN_EDGE.match(text, result.end) or _DIGIT_RUN_EDGE.match(before)
            if longer and not _CARD_CONTEXT.search(text[max(0, result.start - 40) : result.start]):
                continue
        kept.append(result)
    return kept


class PiiCheck:
    """Finds PII and secrets with Presidio; spans are what the pipeline redacts.

    An entity is kept when its Presidio score reaches `threshold`, except phone numbers:
    Presidio scores every number libphonenumber validates at 0.4 and raises it only when
    a context word ("phone", "mobile", ...) precedes it, so a threshold above 0.4 would
    drop phone numbers given in a list or without a label. They are kept at 0.4.
    """

    name = "pii"
    needs_vector = False

    def __init__(self, settings: PiiSettings) -> None:
        self.settings = settings
        self.action: Action = settings.action
        self._entities = sorted(settings.entities)
        self._analyzer = _analyzer(
            frozenset(settings.entities), settings.nlp_model, settings.threshold
        )

    def inspect(self, text: str, vector: np.ndarray | None = None) -> Verdict:
        """The found entities as spans in text order; `score` is the highest one."""
        results = _near_misses(
            text,
            _resolve_overlaps(
                self._analyzer.analyze(text=text, language=_LANGUAGE, entities=self._entities)
            ),
        )
        if not results:
            return Verdict(
                check=self.name, action=self.action, triggered=False, reason="no PII found"
            )
        types = ", ".join(dict.fromkeys(r.entity_type for r in results))
        noun = "span" if len(results) == 1 else "spans"
        return Verdict(
            check=self.name,
            action=self.action,
            triggered=True,
            reason=f"{len(results)} PII {noun}: {types}",
            score=max(r.score for r in results),
            spans=[_span(text, r) for r in results],
        )


def _span(text: str, result: RecognizerResult) -> Span:
    """libphonenumber counts an opening bracket before a number as part of it, also when
    the bracket only encloses the number, as in "my phone (+1 202-555-0173)"."""
    start = result.start
    if text[start] == "(" and ")" not in text[start : result.end]:
        start += 1
    return Span(type=result.entity_type, start=start, end=result.end)


def score_spans(
    expected: list[list[Span]], predicted: list[list[Span]]
) -> dict[str, dict[str, float]]:
    """Per-type precision, recall and support over aligned texts, plus an `overall` row.

    A predicted span is correct when it overlaps a true span of the same type; a true span
    is found when some predicted span of its type overlaps it.
    """
    if len(expected) != len(predicted):
        raise ValueError(f"{len(expected)} expected span lists but {len(predicted)} predicted")
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for truth, found in zip(expected, predicted, strict=True):
        for span in found:
            hit = any(_overlaps(span, t) for t in truth if t.type == span.type)
            for key in (span.type, "overall"):
                counts[key][0] += hit
                counts[key][1] += 1
        for span in truth:
            hit = any(_overlaps(span, p) for p in found if p.type == span.type)
            for key in (span.type, "overall"):
                counts[key][2] += hit
                counts[key][3] += 1
    return {
        key: {
            "precision": correct / n_pred if n_pred else 1.0,
            "recall": found / n_true if n_true else 1.0,
            "support": n_true,
        }
        for key, (correct, n_pred, found, n_true) in sorted(counts.items())
    }


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end
