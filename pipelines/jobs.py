"""Jobs: reindex, register prompts, evaluate one prompt version, calibrate the judge, propose eval
cases, the daily monitoring and the daily drift check."""

import dagster as dg

from assets.contexts import CONTEXT_VERSIONS
from assets.drift import DAYS
from assets.index import EMBED_BUCKETS, chunk_embedding_buckets
from assets.prompts import PROMPT_VERSIONS

# In-process: the embedding model is loaded once per run, and nothing forks after torch loads.
reindex_job = dg.define_asset_job(
    "reindex",
    selection=dg.AssetSelection.groups("corpus", "index", "guardrails")
    - dg.AssetSelection.assets(chunk_embedding_buckets),
    executor_def=dg.in_process_executor,
    description="Scan the docs folder, chunk it, bring the vector table up to date, and rebuild "
    "the guardrails' benign anchors from it.",
)

# Backfill all partitions to encode a large corpus in parallel runs, then run `reindex`.
embed_buckets_job = dg.define_asset_job(
    "embed_buckets",
    selection=dg.AssetSelection.assets(chunk_embedding_buckets),
    partitions_def=EMBED_BUCKETS,
    executor_def=dg.in_process_executor,
    description="Encode one hash bucket of the new chunks into its staging table "
    "(LLMOPS_EMBED_BUCKETS buckets); `reindex` then commits every bucket's vectors at once.",
)

register_prompts_job = dg.define_asset_job(
    "register_prompts",
    selection=dg.AssetSelection.groups("prompts"),
    description="Store new contents of the prompt files as versions.",
)

evaluate_job = dg.define_asset_job(
    "evaluate",
    selection=dg.AssetSelection.assets("eval_dataset", "eval_answers", "eval_scores"),
    partitions_def=PROMPT_VERSIONS,
    executor_def=dg.in_process_executor,
    description="Answer and score the eval set with one prompt version (partition NAME@VERSION) "
    "and gate a candidate against production.",
)

calibrate_judge_job = dg.define_asset_job(
    "calibrate_judge",
    selection=dg.AssetSelection.assets("judge_calibration"),
    description="Measure the configured judge's agreement with the hand-labelled verdicts.",
)

propose_eval_cases_job = dg.define_asset_job(
    "propose_eval_cases",
    selection=dg.AssetSelection.assets("feedback_summary", "feedback_eval_candidates"),
    description="Summarise feedback and propose thumbs-down answers as eval cases.",
)

monitoring_job = dg.define_asset_job(
    "monitoring",
    selection=dg.AssetSelection.assets("cost_report", "feedback_summary", "guardrail_report"),
    description="Spend against the budgets, feedback rates, and what the guardrails did.",
)

# In-process: query embeddings and the drift check share one embedding model load.
drift_job = dg.define_asset_job(
    "drift",
    selection=dg.AssetSelection.assets("query_log", "query_embeddings", "embedding_drift_report"),
    partitions_def=DAYS,
    executor_def=dg.in_process_executor,
    description="Log, embed and test one UTC day's questions for semantic drift against the "
    "reference window (LLMOPS_DRIFT_REFERENCE).",
)

# In-process: one embedding model load for building and scoring the configuration's indexes.
score_contexts_job = dg.define_asset_job(
    "score_contexts",
    selection=dg.AssetSelection.assets("context_experiments"),
    partitions_def=CONTEXT_VERSIONS,
    executor_def=dg.in_process_executor,
    description="Build (or reuse) one context configuration's indexes (partition NAME@VERSION) "
    "and score its retrieval on the benchmarks.",
)

register_contexts_job = dg.define_asset_job(
    "register_contexts",
    selection=dg.AssetSelection.assets("context_versions"),
    description="Store new contents of the context configuration files as versions.",
)
