"""Sensors: react to changes in the knowledge base."""

import dagster as dg

from llmops.config import Settings
from llmops.documents import manifest_digest
from llmops.errors import InputError
from llmops.prompts import load_prompt_files
from pipelines.jobs import register_prompts_job, reindex_job


@dg.sensor(
    job=reindex_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reindex when a document of LLMOPS_DOCS_DIR is added, changed or deleted.",
)
def documents_changed(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    docs_dir = Settings.from_env().docs_dir
    if not docs_dir.is_dir():
        return dg.SkipReason(f"docs folder {docs_dir} does not exist")
    digest = manifest_digest(docs_dir)
    if digest == context.cursor:
        return dg.SkipReason("no document changed")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=digest)], cursor=digest)


@dg.sensor(
    job=register_prompts_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Register a prompt version when a file of LLMOPS_PROMPTS_DIR gets new content.",
)
def new_prompt_version(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    try:
        files = load_prompt_files(Settings.from_env().prompts_dir)
    except InputError as exc:
        return dg.SkipReason(f"prompt files are invalid, nothing registered: {exc}")
    versions = ",".join(sorted(f"{f.spec.name}@{f.spec.version}" for f in files))
    if versions == context.cursor:
        return dg.SkipReason("no new prompt content")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=versions)], cursor=versions)
