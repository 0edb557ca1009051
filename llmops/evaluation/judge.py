"""LLM-as-judge: ragas 0.4 metrics scored by a judge model through our own LLM client
(`llmops.evaluation.ragas_adapters`), so every judge call obeys the daily budget and lands in
the usage ledger with purpose `judge`.

ragas comes with the `judge` extra: this module imports it only when a judge is built, so the
rest of evaluation (and the Dagster code location) loads without it.
"""

import asyncio
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmops.costs.budget import BudgetLimits
from llmops.evaluation.calibration import Calibration, CalibrationCase, agreement
from llmops.evaluation.judge_model import JudgeOutputError, JudgeSettings
from llmops.extras import needs_extra
from llmops.storage.metadata.client import MetadataClient
from resources.embedder import Embedder
from resources.llm import LLMClient

if TYPE_CHECKING:
    from llmops.evaluation.ragas_adapters import MeteredJudgeLLM

JUDGE_METRICS = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")


@dataclass(frozen=True)
class JudgeScore:
    """One judge metric on one question: mean and spread over the repeats, or why it failed."""

    value: float
    sd: float
    error: str | None = None


@dataclass(frozen=True)
class JudgeInput:
    question: str
    answer: str
    contexts: tuple[str, ...]
    reference: str | None  # None for questions the knowledge base cannot answer
    answered: bool  # False for an abstention: nothing to be faithful or relevant about


class Judge:
    """The four ragas judge metrics for one configured judge model."""

    def __init__(self, llm: "MeteredJudgeLLM", embedder: Embedder) -> None:
        with needs_extra("judge"):
            from ragas.metrics.collections import (
                AnswerRelevancy,
                ContextPrecisionWithReference,
                ContextRecall,
                Faithfulness,
            )

            from llmops.evaluation.ragas_adapters import RagasEmbeddings
        self.llm = llm
        embeddings = RagasEmbeddings(embedder)
        self.metrics = {
            "faithfulness": Faithfulness(llm=llm),
            "answer_relevancy": AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=1),
            "context_precision": ContextPrecisionWithReference(llm=llm),
            "context_recall": ContextRecall(llm=llm),
        }

    @classmethod
    def metered(
        cls,
        llm: LLMClient,
        store: MetadataClient,
        settings: JudgeSettings,
        limits: BudgetLimits,
        embedder: Embedder,
    ) -> "Judge":
        """A judge whose every call goes through `llm` within `limits`, into the usage ledger."""
        with needs_extra("judge"):
            from llmops.evaluation.ragas_adapters import MeteredJudgeLLM

        return cls(MeteredJudgeLLM(llm, store, settings, limits), embedder)

    @property
    def model(self) -> str:
        return self.llm.settings.model

    def applicable(self, item: JudgeInput) -> dict[str, dict]:
        """The metrics that mean something for `item`, with their ragas arguments."""
        calls: dict[str, dict] = {}
        if item.answered:
            calls["answer_relevancy"] = {"user_input": item.question, "response": item.answer}
            if item.contexts:
                calls["faithfulness"] = {
                    "user_input": item.question,
                    "response": item.answer,
                    "retrieved_contexts": list(item.contexts),
                }
        if item.reference is not None and item.contexts:
            calls["context_precision"] = {
                "user_input": item.question,
                "reference": item.reference,
                "retrieved_contexts": list(item.contexts),
            }
            calls["context_recall"] = {
                "user_input": item.question,
                "retrieved_contexts": list(item.contexts),
                "reference": item.reference,
            }
        return calls

    def score(self, item: JudgeInput, metrics: Sequence[str] = JUDGE_METRICS) -> dict:
        """{metric: JudgeScore} for the applicable `metrics`, each judged `repeats` times.

        A judge reply that cannot be parsed makes that metric NaN for this question, with the
        reason; a budget refusal stops the evaluation.
        """
        scores = {}
        for name, kwargs in self.applicable(item).items():
            if name not in metrics:
                continue
            values, error = [], None
            for _ in range(self.llm.settings.repeats):
                try:
                    values.append(float(asyncio.run(self.metrics[name].ascore(**kwargs)).value))
                except JudgeOutputError as exc:
                    error = str(exc)
            finite = [v for v in values if not math.isnan(v)]
            scores[name] = JudgeScore(
                value=statistics.fmean(finite) if finite else math.nan,
                sd=statistics.pstdev(finite) if len(finite) > 1 else 0.0,
                error=error if not finite else None,
            )
        return scores


def calibrate(
    judge: Judge, cases: Sequence[CalibrationCase], progress: Callable[[int], None] | None = None
) -> Calibration:
    """Score the calibration set with `judge` and measure its agreement with the people."""
    faithful, relevant = [], []
    for i, case in enumerate(cases, start=1):
        item = JudgeInput(case.question, case.answer, (case.context,), None, answered=True)
        scores = judge.score(item, ("faithfulness", "answer_relevancy"))
        faithful.append(scores["faithfulness"].value)
        relevant.append(scores["answer_relevancy"].value)
        if progress:
            progress(i)
    return Calibration(
        model=judge.model,
        faithful=agreement([c.faithful for c in cases], faithful),
        relevant=agreement([c.relevant for c in cases], relevant),
    )
