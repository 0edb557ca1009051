"""Run the configured checks of a stage in order and apply their actions.

Every check sees the raw text (a redaction must not hide an attack from the next check); the
spans of triggered `redact` checks are then replaced by `<TYPE>` with presidio-anonymizer, and
that redacted text is what goes on to retrieval, the LLM and the logs. Any triggered `block`
stops the request; `flag` only records.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import Any

import numpy as np

from llmops.extras import needs_extra
from llmops.guardrails.config import GuardrailsConfig
from llmops.guardrails.injection import (
    InjectionRulesCheck,
    InjectionRulesSettings,
    InjectionSemanticCheck,
)
from llmops.guardrails.leak import LEAK_MESSAGE, PromptLeakCheck, PromptLeakSettings
from llmops.guardrails.pii_settings import PiiSettings
from llmops.guardrails.profanity import ProfanityCheck, ProfanitySettings
from llmops.guardrails.topics import ForbiddenTopicsCheck, ForbiddenTopicsSettings
from llmops.guardrails.verdicts import Check, Verdict
from resources.embedder import Embedder
from resources.vector_store import VectorStore

INPUT, OUTPUT = "input", "output"


@dataclass(frozen=True)
class GuardResult:
    """The verdicts of one stage on one text, and what continues: `redacted` (the text with
    every redact span replaced) when `allowed`, else `message` for the user."""

    allowed: bool
    redacted: str
    verdicts: list[Verdict] = field(default_factory=list)
    message: str | None = None
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def triggered(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.triggered]

    def as_dict(self) -> dict[str, Any]:
        """The `llmops guard` JSON fields (without `id`)."""
        return {
            "allowed": self.allowed,
            "redacted": self.redacted,
            "message": self.message,
            "verdicts": [
                v.model_dump(include={"check", "action", "triggered", "reason", "score", "spans"})
                for v in self.verdicts
            ],
        }


def redact(text: str, verdicts: list[Verdict]) -> str:
    """`text` with the spans of triggered redact verdicts replaced by `<TYPE>` (overlaps are
    resolved by presidio-anonymizer: the higher-scoring, then the longer span wins)."""
    spans = [
        (s, v.score) for v in verdicts if v.triggered and v.action == "redact" for s in v.spans
    ]
    if not spans:
        return text
    with needs_extra("guardrails"):
        from presidio_anonymizer.entities import RecognizerResult

    found = [RecognizerResult(s.type, s.start, s.end, score or 1.0) for s, score in spans]
    return _anonymizer().anonymize(text=text, analyzer_results=found).text


@cache
def _anonymizer() -> Any:
    from presidio_anonymizer import AnonymizerEngine

    return AnonymizerEngine()


def _outcome(text: str, verdicts: list[Verdict]) -> GuardResult:
    blocking = [v for v in verdicts if v.triggered and v.action == "block"]
    message = _message(blocking[0]) if blocking else None
    return GuardResult(not blocking, redact(text, verdicts), verdicts, message)


def _message(verdict: Verdict) -> str:
    if verdict.check == "forbidden_topics":
        return verdict.reason
    if verdict.check == "prompt_leak":
        return LEAK_MESSAGE
    return f"Blocked by the {verdict.check} guardrail: {verdict.reason}."


class Guardrails:
    """The checks of `guardrails.yaml`, built once (the PII engine, the attack corpus and the
    topic vectors load on first use of the stage that needs them)."""

    def __init__(self, config: GuardrailsConfig, embedder: Embedder, vectors: VectorStore):
        self.config = config
        self.embedder = embedder
        self.vectors = vectors

    def _build(self, settings: Any) -> Check:
        if isinstance(settings, PiiSettings):
            with needs_extra("guardrails"):  # Presidio and spaCy: only when used
                from llmops.guardrails.pii import PiiCheck

            return PiiCheck(settings)
        if isinstance(settings, InjectionRulesSettings):
            return InjectionRulesCheck(settings)
        if isinstance(settings, ForbiddenTopicsSettings):
            return ForbiddenTopicsCheck(settings, self.embedder)
        if isinstance(settings, ProfanitySettings):
            return ProfanityCheck(settings)
        return InjectionSemanticCheck(settings, self.embedder, self.vectors)

    @cached_property
    def input_checks(self) -> list[Check]:
        return [self._build(s) for s in self.config.input if s.enabled]

    @cached_property
    def _pii_checks(self) -> list[Check]:
        """The input stage's PII checks alone (no attack corpus or topic vectors loaded)."""
        return [
            self._build(s) for s in self.config.input if isinstance(s, PiiSettings) and s.enabled
        ]

    @cached_property
    def ingest_checks(self) -> list[Check]:
        return [self._build(s) for s in self.config.ingest if s.enabled]

    @cached_property
    def _output_checks(self) -> list[Check | PromptLeakSettings]:
        return [
            s if isinstance(s, PromptLeakSettings) else self._build(s)
            for s in self.config.output
            if s.enabled
        ]

    def _run(self, checks: list[Check], text: str, vector: np.ndarray | None) -> list[Verdict]:
        if vector is None and any(c.needs_vector for c in checks):
            vector = self.embedder.encode([text])[0]
        return [c.inspect(text, vector) for c in checks]

    def check_input(self, text: str, vector: np.ndarray | None = None) -> GuardResult:
        """The user's question before retrieval and the LLM; `vector` is its embedding, if
        the caller has it.

        The checks that read text run first. The checks that read a vector then see the
        question as redacted, which is the question logged, retrieved with and re-run by an
        audit: a question with PII is encoded once, here, and the result carries that vector
        for retrieval, instead of encoding the original for the checks and the redacted text
        again for retrieval.
        """
        text_checks = [c for c in self.input_checks if not c.needs_vector]
        found = {id(c): c.inspect(text, None) for c in text_checks}
        redacted = redact(text, list(found.values()))
        if redacted != text:
            vector = None
        vector_checks = [c for c in self.input_checks if c.needs_vector]
        if vector is None and vector_checks:
            vector = self.embedder.encode([redacted])[0]
        found |= {id(c): c.inspect(redacted, vector) for c in vector_checks}
        checked = _outcome(text, [found[id(c)] for c in self.input_checks])
        return replace(checked, vector=vector)

    def check_output(self, text: str, system_text: str, canary: str) -> GuardResult:
        """The model's answer before it is returned; `system_text` and `canary` are what this
        request's system message held (for the prompt-leak check)."""
        checks = [
            PromptLeakCheck(c, system_text, canary) if isinstance(c, PromptLeakSettings) else c
            for c in self._output_checks
        ]
        return _outcome(text, self._run(checks, text, None))

    def redact_pii(self, text: str) -> str:
        """`text` with the PII the input stage finds replaced: for free text stored beside a
        query, such as a feedback comment."""
        return redact(text, [c.inspect(text) for c in self._pii_checks])

    def scan_chunk(self, text: str, vector: np.ndarray | None = None) -> GuardResult:
        """A document chunk at ingest: not allowed means quarantined."""
        return _outcome(text, self._run(self.ingest_checks, text, vector))
