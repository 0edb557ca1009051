"""Judge calibration: how often does the LLM judge agree with people on hand-labelled answers?

`evalsets/judge_calibration.jsonl` holds questions, contexts and answers with a person's verdict
(faithful to the context or not, relevant to the question or not). The judge scores the same
rows; its verdicts are compared with the people's by accuracy and Cohen's kappa (agreement
beyond chance). A judge whose kappa is below the threshold on either verdict is untrusted, and
so is every judge metric it produces.
"""

import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import cohen_kappa_score

from llmops.errors import InputError
from llmops.jsonl import read_jsonl

MIN_KAPPA = 0.6  # "substantial" agreement (Landis & Koch)
VERDICT_THRESHOLD = 0.5  # a judge score at or above this counts as a "yes"


class CalibrationCase(BaseModel):
    """One hand-labelled answer (see `evalsets/README.md`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    question: str = Field(min_length=3)
    context: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    faithful: bool = Field(strict=True)
    relevant: bool = Field(strict=True)
    note: str = ""


def load_calibration_set(path: Path) -> list[CalibrationCase]:
    cases = read_jsonl(path, CalibrationCase)
    if not cases:
        raise InputError(f"{path}: the calibration set has no rows")
    duplicates = sorted(i for i, n in Counter(c.id for c in cases).items() if n > 1)
    if duplicates:
        raise InputError(f"{path}: duplicate id(s) {', '.join(duplicates)}")
    return cases


@dataclass(frozen=True)
class Agreement:
    """Judge verdicts against human verdicts on one question (faithful, or relevant)."""

    n: int
    accuracy: float
    kappa: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "accuracy": round(self.accuracy, 4), "kappa": round(self.kappa, 4)}


def agreement(human: Sequence[bool], judge_scores: Sequence[float]) -> Agreement:
    """Accuracy and Cohen's kappa of thresholded judge scores; a missing score (NaN) counts as a
    disagreement, and a judge that always says the same thing has kappa 0."""
    if len(human) != len(judge_scores) or not human:
        raise ValueError("need one judge score per human verdict")
    verdicts = [None if math.isnan(s) else s >= VERDICT_THRESHOLD for s in map(float, judge_scores)]
    answered = [v if v is not None else not h for h, v in zip(human, verdicts, strict=True)]
    accuracy = sum(h == v for h, v in zip(human, answered, strict=True)) / len(human)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        kappa = float(cohen_kappa_score(list(human), answered))
    return Agreement(n=len(human), accuracy=accuracy, kappa=0.0 if math.isnan(kappa) else kappa)


@dataclass(frozen=True)
class Calibration:
    """The configured judge's agreement with the calibration set, and whether to trust it."""

    model: str
    faithful: Agreement
    relevant: Agreement
    min_kappa: float = MIN_KAPPA

    @property
    def trusted(self) -> bool:
        return min(self.faithful.kappa, self.relevant.kappa) >= self.min_kappa

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        """The inverse of `as_dict` (a calibration kept as JSON)."""
        agreed = data["agreement"]
        return cls(
            model=data["model"],
            faithful=Agreement(**agreed["faithful"]),
            relevant=Agreement(**agreed["relevant"]),
            min_kappa=data["min_kappa"],
        )

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "trusted": self.trusted,
            "min_kappa": self.min_kappa,
            "agreement": {
                "faithful": self.faithful.as_dict(),
                "relevant": self.relevant.as_dict(),
            },
        }
