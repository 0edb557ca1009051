"""What a guardrail check says about one text: a verdict with its reason, score and spans."""

from __future__ import annotations

from typing import Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Action = Literal["redact", "block", "flag"]


class Span(BaseModel):
    """A found piece of the inspected text: `text[start:end]` is a `type` (e.g. EMAIL_ADDRESS,
    or an injection family such as instruction_override)."""

    model_config = ConfigDict(frozen=True)

    type: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Verdict(BaseModel):
    """One check's finding. `triggered` is False when the check ran and found nothing; its
    `score` still says how close the text came (what a user tunes thresholds with)."""

    model_config = ConfigDict(frozen=True)

    check: str
    action: Action
    triggered: bool
    reason: str
    score: float = 0.0
    spans: list[Span] = Field(default_factory=list)


class Check(Protocol):
    """A configured guardrail check. `vector` is the text's unit-length embedding (the
    configured embedder's), passed when the caller has it so no check encodes twice; checks
    that need it set `needs_vector`."""

    name: str
    action: Action
    needs_vector: bool

    def inspect(self, text: str, vector: np.ndarray | None = None) -> Verdict: ...
