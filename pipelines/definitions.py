"""The one Dagster `Definitions` of llmops (code location `pipelines.definitions`)."""

import os

import dagster as dg

from assets import (
    contexts,
    corpus,
    drift,
    evaluation,
    feedback,
    guardrails,
    index,
    monitoring,
    prompts,
)
from llmops.config import Settings
from pipelines.jobs import (
    calibrate_judge_job,
    drift_job,
    embed_buckets_job,
    evaluate_job,
    monitoring_job,
    propose_eval_cases_job,
    register_contexts_job,
    register_prompts_job,
    reindex_job,
    score_contexts_job,
)
from pipelines.loggers import console
from pipelines.schedules import daily_drift_check, daily_monitoring, nightly_evaluation
from pipelines.sensors import (
    documents_changed,
    drift_detected,
    evaluate_after_reindex,
    evaluate_new_candidate,
    negative_feedback,
    new_prompt_version,
)
from resources.embedder import Embedder
from resources.llm import LLMClient
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "embedder": Embedder(),
        "vector_store": VectorStore(uri=settings.lancedb_uri),
        "metadata_store": MetadataStore(url=settings.database_url),
        "llm": LLMClient(
            base_url=os.environ.get("OPENAI_BASE_URL") or None,
            # an EnvVar, so the UI shows the variable's name and never the key
            api_key=dg.EnvVar("OPENAI_API_KEY") if os.environ.get("OPENAI_API_KEY") else None,
            model=os.environ.get("LLMOPS_CHAT_MODEL") or None,
        ),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    """The code location with the resources `settings` configures. The CLI builds it per call,
    so a process that runs several commands (a notebook, a test) uses the environment of each
    call, not the one of the first import."""
    return dg.Definitions(
        assets=dg.load_assets_from_modules(
            [corpus, index, prompts, evaluation, feedback, monitoring, drift, guardrails, contexts]
        ),
        asset_checks=dg.load_asset_checks_from_modules([index]),
        jobs=[
            reindex_job,
            embed_buckets_job,
            register_prompts_job,
            evaluate_job,
            calibrate_judge_job,
            propose_eval_cases_job,
            monitoring_job,
            drift_job,
            register_contexts_job,
            score_contexts_job,
        ],
        schedules=[nightly_evaluation, daily_monitoring, daily_drift_check],
        sensors=[
            documents_changed,
            new_prompt_version,
            evaluate_new_candidate,
            evaluate_after_reindex,
            negative_feedback,
            drift_detected,
        ],
        resources=build_resources(settings),
        loggers={"console": console},
    )


defs = build_definitions(Settings.from_env())
