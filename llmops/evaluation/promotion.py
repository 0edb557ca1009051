"""From eval answers to a recorded evaluation with its gate verdict, and the promotion rule.

A candidate is gated against production on the same questions, the same eval set and the same
index version. When production has no such evaluation yet, it is evaluated first, so the gate
never compares scores made under different conditions. `promotion_blocker` is what
`llmops prompts promote` asks: promotion needs a passed gate against the current production.
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from llmops.answering.rag import RagSettings
from llmops.costs.budget import BudgetLimits
from llmops.evaluation.calibration import Calibration, CalibrationCase
from llmops.evaluation.evalsets import EvalCase
from llmops.evaluation.gate import GateResult, compare
from llmops.evaluation.judge import Judge, calibrate
from llmops.evaluation.scoring import (
    EvalAnswers,
    JudgeState,
    answer_cases,
    per_question,
    primary_metrics,
    score_answers,
    summarize,
    write_scores,
)
from llmops.prompts.registry import CANDIDATE, PRODUCTION, resolve
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import EvaluationRecord, PromptVersion
from resources.embedder import Embedder
from resources.llm import LLMClient
from resources.vector_store import VectorStore

logger = logging.getLogger(__name__)


@dataclass
class Evaluator:
    """Everything one evaluation needs; `judge` is None when no judge model is configured."""

    embedder: Embedder
    vectors: VectorStore | None
    llm: LLMClient
    store: MetadataClient
    limits: BudgetLimits
    scores_dir: Path
    judge: Judge | None = None
    judge_state: JudgeState = field(default_factory=lambda: JudgeState(None, None))
    settings: RagSettings = field(default_factory=RagSettings)
    context_embedder: Embedder | None = None  # encodes questions for `settings`; else `embedder`

    def answer(self, cases: list[EvalCase], prompt: PromptVersion, progress=None) -> EvalAnswers:
        """Every case answered through the context configuration of `settings`."""
        return answer_cases(
            cases,
            prompt,
            self.context_embedder or self.embedder,
            self.vectors,
            self.llm,
            self.store,
            self.limits,
            self.settings,
            progress,
        )


@dataclass(frozen=True)
class Evaluation:
    record: EvaluationRecord
    frame: pd.DataFrame
    gate: GateResult | None
    gate_note: str  # why there is no gate, or what it compared with


def label_of(store: MetadataClient, prompt: PromptVersion) -> str | None:
    labels = store.prompts.labels(prompt.name)
    for label in (PRODUCTION, CANDIDATE):
        if labels.get(label) == prompt.version:
            return label
    return None


def _same_conditions(record: EvaluationRecord, digest: str, answers: EvalAnswers) -> bool:
    return (
        record.evalset_digest == digest
        and record.table_version == answers.table_version
        and record.chat_model == answers.chat_model
        and record.context == answers.context
        and record.scores_path is not None
        and Path(record.scores_path).is_file()
    )


def evaluate(
    answers: EvalAnswers,
    evaluator: Evaluator,
    cases: list[EvalCase],
    evalset: str,
    digest: str,
    run_id: str | None = None,
    progress=None,
    log: Callable[[str], None] = logger.info,
) -> Evaluation:
    """Score `answers`, gate them against production unless they are production, record it.

    `cost_usd` is what this version's answers and its judge calls cost, without the
    calibration or a baseline evaluated on the way.
    """
    ev = evaluator
    prompt = ev.store.prompts.get(answers.prompt_name, answers.prompt_version)
    label = label_of(ev.store, prompt)
    judge_before = ev.judge.llm.cost_usd if ev.judge else 0.0
    if ev.judge:
        ev.judge.llm.prompt_version = prompt.version
    frame = score_answers(answers, ev.embedder, ev.settings.k, ev.judge, progress)
    judge_cost = (ev.judge.llm.cost_usd if ev.judge else 0.0) - judge_before
    summary = summarize(frame, ev.judge_state, ev.settings.k)
    path = write_scores(frame, ev.scores_dir, prompt.name, prompt.version)
    gate, note = None, "production is the baseline: no gate"
    production = ev.store.prompts.label(prompt.name, PRODUCTION)
    if production and production != prompt.version:
        baseline = _baseline(ev, cases, evalset, digest, answers, run_id, log)
        metrics = primary_metrics(ev.settings.k, ev.judge_state.trusted)
        gate = compare(
            per_question(frame, metrics),
            per_question(pd.read_parquet(baseline.scores_path), metrics),
            baseline=f"{prompt.name}@{production}",
            metrics=metrics,
        )
        note = gate.markdown()
    record = ev.store.evaluations.add(
        EvaluationRecord(
            prompt_name=prompt.name,
            prompt_version=prompt.version,
            label=label,
            evalset=evalset,
            evalset_digest=digest,
            table_version=answers.table_version,
            chat_model=answers.chat_model,
            judge=ev.judge_state.as_dict(),
            metrics=summary,
            gate_passed=gate.passed if gate else None,
            gate_baseline=production if gate else None,
            gate_details=gate.details() if gate else [],
            cost_usd=round(answers.cost_usd + judge_cost, 6),
            scores_path=str(path),
            run_id=run_id,
            context=answers.context,
        )
    )
    return Evaluation(record, frame, gate, note)


def _baseline(
    ev: Evaluator,
    cases: list[EvalCase],
    evalset: str,
    digest: str,
    answers: EvalAnswers,
    run_id: str | None,
    log: Callable[[str], None],
) -> EvaluationRecord:
    """Production's evaluation under the candidate's conditions, made now if there is none."""
    production = resolve(ev.store, f"{answers.prompt_name}@{PRODUCTION}")
    for record in ev.store.evaluations.find(production.name, production.version):
        if _same_conditions(record, digest, answers):
            return record
    log(
        f"production {production.name}@{production.version} has no evaluation on this eval set "
        f"at index version {answers.table_version}: evaluating it first"
    )
    baseline_answers = ev.answer(cases, production)
    return evaluate(baseline_answers, ev, cases, evalset, digest, run_id, log=log).record


def promotion_blocker(store: MetadataClient, name: str, version: str) -> str | None:
    """Why `version` may not become production now, or None when its gate passed against the
    current production version."""
    production = store.prompts.label(name, PRODUCTION)
    if production is None or production == version:
        return None
    gated = [e for e in store.evaluations.find(name, version) if e.gate_passed is not None]
    if not gated:
        return f"the promotion gate of {name}@{version} never ran: run `llmops eval` first"
    latest = gated[0]
    if latest.gate_baseline != production:
        return (
            f"the gate of {name}@{version} ran against {latest.gate_baseline}, but production "
            f"is now {production}: run `llmops eval` again"
        )
    if not latest.gate_passed:
        worse = [d["metric"] for d in latest.gate_details if d.get("worse")]
        return (
            f"the promotion gate of {name}@{version} failed against {production} "
            f"(worse beyond noise on {', '.join(worse)})"
        )
    return None


def load_or_calibrate(
    judge: Judge,
    cases: list[CalibrationCase],
    folder: Path,
    digest: str,
    log: Callable[[str], None] = logger.info,
) -> Calibration:
    """The judge's calibration on this calibration set, measured once and kept as JSON."""
    path = folder / "calibration" / f"{_slug(judge.model)}-{digest}.json"
    if path.is_file():
        return Calibration.from_dict(json.loads(path.read_text()))
    log(f"calibrating judge {judge.model} on {len(cases)} hand-labelled answers")
    result = calibrate(judge, cases)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.as_dict(), indent=2))
    return result


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")
