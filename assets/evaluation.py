"""Evaluation stage: eval set → answers → scores per prompt version, and the promotion gate.

Partitioned by prompt version (`NAME@VERSION`, one dynamic partition per registered version),
so the UI shows every version's scores side by side, with lineage from the index and the
prompt registry to each score.
"""

from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from assets.index import log_progress
from assets.prompts import PROMPT_VERSIONS, prompt_versions
from llmops.config import PROJECT_ROOT, Settings
from llmops.costs.budget import BudgetLimits
from llmops.evaluation.calibration import Calibration, load_calibration_set
from llmops.evaluation.evalsets import EvalCase, evalset_path, load_evalset
from llmops.evaluation.judge import Judge
from llmops.evaluation.judge_model import JudgeSettings
from llmops.evaluation.promotion import Evaluator, evaluate, load_or_calibrate
from llmops.evaluation.scoring import EvalAnswers, JudgeState, evalset_digest, summary_markdown
from llmops.prompts.registry import resolve
from llmops.retrieval.experiments import serving_context
from resources.embedder import Embedder
from resources.llm import LLMClient
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore

CALIBRATION_SET = PROJECT_ROOT / "evalsets" / "judge_calibration.jsonl"
GATE = "promotion_gate"


class EvalSetConfig(dg.Config):
    evalset: str | None = None
    """JSONL eval set in `LLMOPS_EVALSETS_DIR` (`evalsets/`): a file name or a path inside it;
    unset means `handbook.jsonl`."""


@dataclass(frozen=True)
class EvalDataset:
    path: str
    digest: str
    cases: list[EvalCase]


@dg.asset(group_name="evaluation", partitions_def=PROMPT_VERSIONS, deps=[prompt_versions])
def eval_dataset(context: dg.AssetExecutionContext, config: EvalSetConfig) -> dg.Output:
    """The golden questions this prompt version is scored on, validated against the docs."""
    settings = Settings.from_env()
    path = evalset_path(config.evalset, settings.evalsets_dir)
    cases = load_evalset(path, settings.docs_dir)
    dataset = EvalDataset(str(path.resolve()), evalset_digest(cases), cases)
    answerable = sum(c.answerable for c in cases)
    return dg.Output(
        dataset,
        metadata={
            "evalset": dataset.path,
            "digest": dataset.digest,
            "questions": float(len(cases)),
            "answerable": float(answerable),
            "unanswerable": float(len(cases) - answerable),
        },
    )


@dg.asset(
    group_name="evaluation",
    partitions_def=PROMPT_VERSIONS,
    deps=["chunk_embeddings", prompt_versions],
)
def eval_answers(
    context: dg.AssetExecutionContext,
    eval_dataset: EvalDataset,
    embedder: Embedder,
    vector_store: VectorStore,
    metadata_store: MetadataStore,
    llm: LLMClient,
) -> dg.Output:
    """The RAG answer of this prompt version to every eval question (ledger purpose `eval`)."""
    prompt = resolve(metadata_store.get_client(), context.partition_key)
    answers = _evaluator(embedder, vector_store, metadata_store, llm).answer(
        eval_dataset.cases, prompt, log_progress(context.log, "answered")
    )
    answered = sum(a.status == "answered" for a in answers.answers)
    return dg.Output(
        answers,
        metadata={
            "prompt": context.partition_key,
            "context": answers.context or "built-in defaults",
            "table_version": float(answers.table_version),
            "chat_model": answers.chat_model,
            "answered": float(answered),
            "no_context": float(len(answers.answers) - answered),
            "cost_usd": answers.cost_usd,
        },
    )


@dg.asset(
    group_name="evaluation",
    partitions_def=PROMPT_VERSIONS,
    deps=["judge_calibration"],
    check_specs=[
        dg.AssetCheckSpec(
            GATE,
            asset="eval_scores",
            blocking=True,
            description="A candidate is not worse than production beyond noise (paired "
            "bootstrap over questions on the primary metrics).",
        )
    ],
)
def eval_scores(
    context: dg.AssetExecutionContext,
    eval_dataset: EvalDataset,
    eval_answers: EvalAnswers,
    embedder: Embedder,
    vector_store: VectorStore,
    metadata_store: MetadataStore,
    llm: LLMClient,
) -> dg.MaterializeResult:
    """Retrieval, answer and judge metrics per question (Parquet) and as means with 95% CIs."""
    evaluator = _evaluator(
        embedder, vector_store, metadata_store, llm, with_judge=True, log=context.log
    )
    result = evaluate(
        eval_answers,
        evaluator,
        eval_dataset.cases,
        eval_dataset.path,
        eval_dataset.digest,
        run_id=context.run_id,
        progress=log_progress(context.log, "scored"),
        log=context.log.info,
    )
    record = result.record
    means = {name: m["mean"] for name, m in record.metrics.items() if "mean" in m}
    gate_passed = True if result.gate is None else result.gate.passed
    return dg.MaterializeResult(
        metadata={
            **means,
            "summary": dg.MetadataValue.md(
                summary_markdown(
                    context.partition_key,
                    record.metrics,
                    evaluator.judge_state.model,
                    evaluator.judge_state.trusted,
                )
            ),
            "gate": dg.MetadataValue.md(result.gate_note),
            "scores_path": dg.MetadataValue.path(record.scores_path),
            "label": record.label or "",
            "judge_model": record.judge.get("model") or "not run",
            "judge_trusted": bool(record.judge.get("trusted")),
            "cost_usd": record.cost_usd,
            "table_version": float(record.table_version),
            "evaluation_id": float(record.id),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=GATE,
                passed=gate_passed,
                severity=dg.AssetCheckSeverity.ERROR,
                description=result.gate_note[:2000],
                metadata={
                    "baseline": record.gate_baseline or "none",
                    "failed_metrics": ", ".join(result.gate.failed_metrics) if result.gate else "",
                },
            )
        ],
    )


@dg.asset(group_name="evaluation")
def judge_calibration(
    context: dg.AssetExecutionContext,
    embedder: Embedder,
    metadata_store: MetadataStore,
    llm: LLMClient,
) -> dg.MaterializeResult:
    """The configured judge's agreement with hand-labelled verdicts (accuracy, Cohen's kappa)."""
    evaluator = _evaluator(embedder, None, metadata_store, llm, with_judge=True, log=context.log)
    state = evaluator.judge_state
    if not state.ran:
        return dg.MaterializeResult(metadata={"status": "not_run", "reason": state.reason})
    agreement = state.calibration.as_dict()["agreement"]
    return dg.MaterializeResult(
        metadata={
            "judge_model": state.model,
            "trusted": state.trusted,
            "faithful_accuracy": agreement["faithful"]["accuracy"],
            "faithful_kappa": agreement["faithful"]["kappa"],
            "relevant_accuracy": agreement["relevant"]["accuracy"],
            "relevant_kappa": agreement["relevant"]["kappa"],
            "rows": float(agreement["faithful"]["n"]),
            "min_kappa": state.calibration.min_kappa,
        }
    )


def _evaluator(
    embedder: Embedder,
    vectors: VectorStore | None,
    metadata_store: MetadataStore,
    llm: LLMClient,
    with_judge: bool = False,
    log: dg.DagsterLogManager | None = None,
) -> Evaluator:
    """The evaluator for these resources, retrieving through the production context
    configuration; with `with_judge`, the configured judge, calibrated."""
    settings = Settings.from_env()
    limits = BudgetLimits.from_env()
    store = metadata_store.get_client()
    context, context_embedder = serving_context(store, embedder)
    evaluator = Evaluator(
        embedder,
        vectors,
        llm,
        store,
        limits,
        settings.home / "evaluations",
        settings=context,
        context_embedder=context_embedder,
    )
    judge_settings = JudgeSettings.from_env() if with_judge else None
    if judge_settings is not None:
        judge_llm = LLMClient(
            base_url=llm.base_url,
            api_key=llm.api_key,
            model=judge_settings.model,
            timeout_s=llm.timeout_s,
            max_retries=llm.max_retries,
        )
        evaluator.judge = Judge.metered(judge_llm, store, judge_settings, limits, embedder)
        calibration = calibrate_judge(evaluator.judge, evaluator.scores_dir, log)
        evaluator.judge_state = JudgeState(judge_settings.model, calibration)
    return evaluator


def calibrate_judge(judge: Judge, folder: Path, log: dg.DagsterLogManager | None) -> Calibration:
    cases = load_calibration_set(CALIBRATION_SET)
    digest = evalset_digest(cases)  # same canonical hash as eval sets
    if log is None:
        return load_or_calibrate(judge, cases, folder, digest)
    return load_or_calibrate(judge, cases, folder, digest, log.info)
