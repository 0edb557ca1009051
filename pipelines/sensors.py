"""Sensors: react to changes in the knowledge base."""

import dagster as dg

from llmops.config import Settings
from llmops.documents import manifest_digest
from pipelines.jobs import reindex_job


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
