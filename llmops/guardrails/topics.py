"""Forbidden topics: questions close in meaning to a topic the assistant must not touch (legal
advice, medical diagnosis, …) get a polite refusal instead of an answer.

A topic is described in plain words plus a few example questions; the score of an input is its
best cosine similarity to any of them. One description alone is a weak anchor for MiniLM (a
question and a one-line description score low even when they match), so the examples carry most
of the signal.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from llmops.guardrails.verdicts import Action, Span, Verdict
from resources.embedder import Embedder


class ForbiddenTopic(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    examples: list[str] = Field(default_factory=list)
    refusal: str | None = None

    def refusal_message(self) -> str:
        return self.refusal or (
            f"I'm sorry, I can't help with {self.name}. Please ask a qualified professional; "
            "I can answer questions about the handbook."
        )


class ForbiddenTopicsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Literal["forbidden_topics"] = "forbidden_topics"
    enabled: bool = True
    action: Action = "block"
    threshold: float = Field(default=0.6, gt=0, le=1)
    topics: list[ForbiddenTopic] = Field(default_factory=list)


class ForbiddenTopicsCheck:
    """Blocks inputs whose best similarity to a topic's description or examples ≥ threshold."""

    name = "forbidden_topics"
    needs_vector = True

    def __init__(self, settings: ForbiddenTopicsSettings, embedder: Embedder) -> None:
        self.action = settings.action
        self.threshold = settings.threshold
        self.topics = settings.topics
        self.embedder = embedder
        anchors = [(i, t.description) for i, t in enumerate(self.topics)]
        anchors += [(i, e) for i, t in enumerate(self.topics) for e in t.examples]
        self._owner = np.array([i for i, _ in anchors], dtype=np.int64)
        self._vectors = embedder.encode([text for _, text in anchors]) if anchors else None

    def inspect(self, text: str, vector: np.ndarray | None = None) -> Verdict:
        if self._vectors is None:
            return Verdict(check=self.name, action=self.action, triggered=False, reason="no topics")
        if vector is None:
            vector = self.embedder.encode([text])[0]
        sims = self._vectors @ vector
        best = int(np.argmax(sims))
        score = float(sims[best])
        topic = self.topics[int(self._owner[best])]
        triggered = score >= self.threshold
        return Verdict(
            check=self.name,
            action=self.action,
            triggered=triggered,
            reason=(
                topic.refusal_message()
                if triggered
                else f"closest forbidden topic {topic.name!r} at {score:.2f} "
                f"(threshold {self.threshold:.2f})"
            ),
            score=score,
            spans=[Span(type=f"topic:{topic.name}", start=0, end=len(text))] if triggered else [],
        )
