"""Offensive language in answers, flagged with `alt-profanity-check` (a linear model on
character and word n-grams shipped inside the wheel; it runs offline in about 3 ms)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from llmops.extras import needs_extra
from llmops.guardrails.verdicts import Action, Span, Verdict


class ProfanitySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Literal["profanity"] = "profanity"
    enabled: bool = True
    action: Action = "flag"
    threshold: float = Field(default=0.8, gt=0, le=1)


class ProfanityCheck:
    """Probability that the text is offensive; triggered at ≥ threshold."""

    name = "profanity"
    needs_vector = False

    def __init__(self, settings: ProfanitySettings) -> None:
        with needs_extra("guardrails"):
            from profanity_check import predict_prob

        self.action = settings.action
        self.threshold = settings.threshold
        self._predict = predict_prob

    def inspect(self, text: str, vector: np.ndarray | None = None) -> Verdict:
        score = float(self._predict([text])[0])
        triggered = score >= self.threshold
        return Verdict(
            check=self.name,
            action=self.action,
            triggered=triggered,
            reason=f"offensive language (p={score:.2f})" if triggered else f"p={score:.2f}",
            score=score,
            spans=[Span(type="OFFENSIVE", start=0, end=len(text))] if triggered else [],
        )
