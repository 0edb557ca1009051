"""Evaluate a prompt version on an eval set: answer every question, score every answer.

The eval answers go through the same retrieve → fit → generate path as `llmops ask` (purpose
`eval` in the usage ledger) but are not written to the query log: they are not user traffic,
and drift monitoring reads that log. Each metric is a column of a per-question table, and its
summary is the mean with a 95% bootstrap interval over the questions it applies to.
"""

import asyncio
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from uuid import uuid4

import numpy as np
import pandas as pd
from pydantic import BaseModel

from llmops.answering.checks import abstained, groundedness
from llmops.answering.rag import NO_ANSWER, RagSettings, above_floor, generate, retrieve_with
from llmops.costs.budget import BudgetLimits
from llmops.evaluation.calibration import Calibration
from llmops.evaluation.evalsets import EvalCase
from llmops.evaluation.judge import JUDGE_METRICS, Judge, JudgeInput
from llmops.evaluation.judge_model import NOT_CONFIGURED
from llmops.extras import needs_extra
from llmops.prompts.registry import spec_of
from llmops.retrieval.metrics import bootstrap_mean, hit_at_k, reciprocal_rank_at_k
from llmops.safepaths import inside
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import PromptVersion
from resources.embedder import Embedder
from resources.llm import LLMClient
from resources.vector_store import VectorStore

Progress = Callable[[int, int], None]


def metric_names(k: int) -> tuple[str, ...]:
    """Every metric an evaluation reports, in report order."""
    return (
        f"hit@{k}",
        f"mrr@{k}",
        "semantic_similarity",
        "string_similarity",
        "groundedness",
        "abstention_accuracy",
        *JUDGE_METRICS,
    )


def primary_metrics(k: int, judge_trusted: bool) -> tuple[str, ...]:
    """What the promotion gate compares: retrieval, answer quality and abstention, plus the
    judge's faithfulness and relevancy only when the judge is trusted."""
    base = (f"hit@{k}", f"mrr@{k}", "semantic_similarity", "groundedness", "abstention_accuracy")
    return (*base, "faithfulness", "answer_relevancy") if judge_trusted else base


def evalset_digest(cases: Sequence[BaseModel]) -> str:
    """Content hash of a set of cases with ids, so scores on different sets are never compared."""
    canonical = "\n".join(c.model_dump_json() for c in sorted(cases, key=lambda c: c.id))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EvalAnswer:
    """The assistant's answer to one eval question, with the evidence it was given."""

    case: EvalCase
    answer: str
    status: str  # answered | no_context
    retrieved: tuple[str, ...]  # documents of the top-k hits, before the similarity floor
    contexts: tuple[str, ...]  # the passages the model saw
    chunk_ids: tuple[str, ...] = ()  # their chunk ids, as `llmops ask` cites them
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0


@dataclass(frozen=True)
class EvalAnswers:
    prompt_name: str
    prompt_version: str
    table_version: int
    chat_model: str
    answers: tuple[EvalAnswer, ...]
    context: str | None = None  # NAME@VERSION of the context configuration that retrieved

    @property
    def cost_usd(self) -> float:
        return sum(a.cost_usd for a in self.answers)


def answer_cases(
    cases: Sequence[EvalCase],
    prompt: PromptVersion,
    embedder: Embedder,
    vectors: VectorStore,
    llm: LLMClient,
    store: MetadataClient,
    limits: BudgetLimits,
    settings: RagSettings = RagSettings(),
    progress: Progress | None = None,
) -> EvalAnswers:
    """Answer every case with `prompt`, retrieving all questions at one table version through
    the context configuration of `settings`, as `llmops ask` does."""
    spec = spec_of(prompt)
    retrievals = retrieve_with([c.question for c in cases], embedder, vectors, settings)
    answers = []
    for i, (case, found) in enumerate(zip(cases, retrievals, strict=True), start=1):
        started = time.perf_counter()
        hits = above_floor(found.hits, settings)
        retrieved = tuple(h.document for h in found.hits)
        answer = EvalAnswer(case, NO_ANSWER, "no_context", retrieved, ())
        if hits:
            made = generate(
                case.question,
                spec,
                prompt.version,
                hits,
                found.index_version,
                llm,
                store,
                limits,
                "eval",
                f"eval-{case.id}",
            )
            answer = EvalAnswer(
                case=case,
                answer=made.completion.text.strip(),
                status="answered",
                retrieved=retrieved,
                contexts=tuple(p.text for p in made.prepared.passages),
                chunk_ids=tuple(p.chunk_id for p in made.prepared.passages),
                input_tokens=made.completion.input_tokens,
                output_tokens=made.completion.output_tokens,
                cost_usd=made.cost_usd,
            )
        answers.append(replace(answer, latency_ms=(time.perf_counter() - started) * 1000))
        if progress:
            progress(i, len(cases))
    return EvalAnswers(
        prompt_name=prompt.name,
        prompt_version=prompt.version,
        table_version=retrievals[0].index_version,
        chat_model=llm.model_id,
        answers=tuple(answers),
        context=settings.context,
    )


def score_answers(
    answers: EvalAnswers,
    embedder: Embedder,
    k: int = 5,
    judge: Judge | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One row per question: every metric that applies to it (NaN where one does not)."""
    with needs_extra("judge"):
        from ragas.metrics.collections import NonLLMStringSimilarity, SemanticSimilarity

        from llmops.evaluation.ragas_adapters import RagasEmbeddings
    semantic = SemanticSimilarity(embeddings=RagasEmbeddings(embedder))
    string = NonLLMStringSimilarity()
    rows = []
    for i, item in enumerate(answers.answers, start=1):
        case = item.case
        gave_up = abstained(item.answer)
        row = {
            "id": case.id,
            "question": case.question,
            "tags": ",".join(case.tags),
            "answerable": case.answerable,
            "answer": item.answer,
            "status": item.status,
            "abstained": gave_up,
            "retrieved": ",".join(item.retrieved),
            "chunk_ids": ",".join(item.chunk_ids),
            "gold_sources": ",".join(case.gold_sources),
            "abstention_accuracy": float(gave_up != case.answerable),
            "input_tokens": item.input_tokens,
            "output_tokens": item.output_tokens,
            "cost_usd": item.cost_usd,
            "latency_ms": round(item.latency_ms, 1),
        }
        for name in metric_names(k):
            row.setdefault(name, math.nan)
        if case.answerable:
            row[f"hit@{k}"] = hit_at_k(item.retrieved, case.gold_sources, k)
            row[f"mrr@{k}"] = reciprocal_rank_at_k(item.retrieved, case.gold_sources, k)
            pair = {"reference": case.reference_answer, "response": item.answer}
            row["semantic_similarity"] = asyncio.run(semantic.ascore(**pair)).value
            row["string_similarity"] = asyncio.run(string.ascore(**pair)).value
        grounded = None if gave_up else groundedness(item.answer, list(item.contexts))
        if grounded is not None:
            row["groundedness"] = grounded.score
            row["unsupported"] = " ".join(grounded.unsupported)
        if judge is not None:
            judged = judge.score(
                JudgeInput(
                    question=case.question,
                    answer=item.answer,
                    contexts=item.contexts,
                    reference=case.reference_answer if case.answerable else None,
                    answered=not gave_up,
                )
            )
            errors = []
            for name, score in judged.items():
                row[name] = score.value
                row[f"{name}_sd"] = score.sd
                if score.error:
                    errors.append(f"{name}: {score.error}")
            row["judge_error"] = "; ".join(errors)
        rows.append(row)
        if progress:
            progress(i, len(answers.answers))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class JudgeState:
    """Whether judge metrics ran, with which model, and whether that judge is trusted."""

    model: str | None
    calibration: Calibration | None
    reason: str = NOT_CONFIGURED

    @property
    def ran(self) -> bool:
        return self.model is not None

    @property
    def trusted(self) -> bool:
        return self.calibration is not None and self.calibration.trusted

    def as_dict(self) -> dict:
        agreement = self.calibration.as_dict()["agreement"] if self.calibration else None
        payload = {"model": self.model, "trusted": self.trusted, "agreement": agreement}
        if not self.ran:
            payload["reason"] = self.reason
        return payload


def summarize(frame: pd.DataFrame, judge: JudgeState, k: int = 5) -> dict[str, dict]:
    """{metric: {mean, ci_low, ci_high, n}} over the questions each applies to, or
    {status: not_run, reason} — never a bare mean."""
    summary: dict[str, dict] = {}
    for name in metric_names(k):
        if name in JUDGE_METRICS and not judge.ran:
            summary[name] = {"status": "not_run", "reason": judge.reason}
            continue
        values = frame[name].dropna().to_numpy(dtype=float) if name in frame else np.array([])
        if values.size == 0:
            summary[name] = {"status": "not_run", "reason": "no question this metric applies to"}
            continue
        estimate = bootstrap_mean(values.tolist())
        entry = {
            "mean": round(estimate.mean, 4),
            "ci_low": round(estimate.low, 4),
            "ci_high": round(estimate.high, 4),
            "n": estimate.n,
        }
        if name in JUDGE_METRICS:
            entry["trusted"] = judge.trusted
            if f"{name}_sd" in frame:
                entry["judge_sd"] = round(float(frame[f"{name}_sd"].dropna().mean()), 4)
        summary[name] = entry
    return summary


def per_question(frame: pd.DataFrame, metrics: Sequence[str]) -> dict[str, dict[str, float]]:
    """{metric: {question id: score}}, the shape the promotion gate pairs on."""
    return {
        m: dict(zip(frame["id"], frame[m].astype(float), strict=True))
        for m in metrics
        if m in frame
    }


def summary_markdown(
    title: str, summary: dict[str, dict], judge_model: str | None, judge_trusted: bool
) -> str:
    """The metrics table shown in the Dagster UI and printed by `llmops eval`."""
    rows = []
    for name, s in summary.items():
        if "mean" in s:
            flag = " (untrusted judge)" if s.get("trusted") is False else ""
            rows.append(
                f"| {name} | {s['mean']:.3f} | [{s['ci_low']:.3f}, {s['ci_high']:.3f}] "
                f"| {s['n']} |{flag}"
            )
        else:
            rows.append(f"| {name} | not run | {s['reason']} | |")
    judged = (
        f"judge {judge_model} ({'trusted' if judge_trusted else 'untrusted'})"
        if judge_model
        else "judge metrics not run"
    )
    return (
        f"### {title}\n\n{judged}\n\n| metric | mean | 95% CI | n |\n|---|---|---|---|\n"
        + "\n".join(rows)
    )


def write_scores(frame: pd.DataFrame, folder: Path, prompt_name: str, version: str) -> Path:
    """The per-question table as Parquet, one file per evaluation, under `folder`."""
    target = inside(folder, Path(prompt_name) / version, "prompt version")
    target.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = target / f"scores-{stamp}-{uuid4().hex[:6]}.parquet"
    frame.to_parquet(path, index=False)
    return path
