"""Sensors: react to changes in the knowledge base, the prompts, the index, feedback and drift."""

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from assets.drift import SEMANTIC_DRIFT
from assets.prompts import PROMPT_VERSIONS, partition_key
from llmops.config import Settings
from llmops.errors import InputError
from llmops.knowledge.documents import manifest_digest
from llmops.monitoring.check import DRIFT
from llmops.prompts.registry import CANDIDATE, PRODUCTION
from llmops.prompts.specs import load_prompt_files
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import Alert
from pipelines.jobs import (
    evaluate_job,
    propose_eval_cases_job,
    register_prompts_job,
    reindex_job,
)


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


def metadata_store_from_env() -> MetadataClient:
    return MetadataClient(url=Settings.from_env().database_url)


def production_keys(store: MetadataClient) -> list[str]:
    """The partition key of every prompt's production version."""
    names = sorted({v.name for v in store.prompts.versions()})
    return [
        partition_key(name, version)
        for name in names
        if (version := store.prompts.label(name, PRODUCTION)) is not None
    ]


@dg.sensor(
    job=evaluate_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluate every new candidate prompt version against production.",
)
def evaluate_new_candidate(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    store = metadata_store_from_env()
    requests = []
    for name in sorted({v.name for v in store.prompts.versions()}):
        labels = store.prompts.labels(name)
        candidate = labels.get(CANDIDATE)
        if candidate is None or candidate == labels.get(PRODUCTION):
            continue
        key = partition_key(name, candidate)
        requests.append(dg.RunRequest(run_key=f"candidate:{key}", partition_key=key))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            PROMPT_VERSIONS.build_add_request([r.partition_key for r in requests])
        ],
    )


@dg.asset_sensor(
    asset_key=dg.AssetKey("chunk_embeddings"),
    job=evaluate_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluate production again after a re-index (a new table version).",
)
def evaluate_after_reindex(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    materialization = asset_event.asset_materialization
    embedded = materialization.metadata.get("embedded") if materialization else None
    deleted = materialization.metadata.get("deleted") if materialization else None
    if embedded is not None and deleted is not None and embedded.value == deleted.value == 0:
        return dg.SkipReason("the re-index changed nothing: the table version is the same data")
    keys = production_keys(metadata_store_from_env())
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"reindex:{asset_event.timestamp}:{key}", partition_key=key)
            for key in keys
        ],
        dynamic_partitions_requests=[PROMPT_VERSIONS.build_add_request(keys)],
    )


NEW_NEGATIVE_FEEDBACK = 3


@dg.sensor(
    job=propose_eval_cases_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=f"Propose eval cases once {NEW_NEGATIVE_FEEDBACK} new thumbs-down answers arrived.",
)
def negative_feedback(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    seen = int(context.cursor or 0)
    new = [f for f in metadata_store_from_env().feedback.find() if f.id > seen]
    down = [f for f in new if f.rating == "down"]
    if len(down) < NEW_NEGATIVE_FEEDBACK:
        return dg.SkipReason(
            f"{len(down)} new thumbs-down answer(s); proposing at {NEW_NEGATIVE_FEEDBACK}"
        )
    last = max(f.id for f in new)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"feedback:{last}")], cursor=str(last)
    )


DRIFT_CHECK = dg.AssetCheckKey(dg.AssetKey("embedding_drift_report"), SEMANTIC_DRIFT)


@dg.sensor(
    job=evaluate_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When the semantic drift check fails, record an alert and evaluate every "
    "production prompt again: do the answers still hold up on what users now ask?",
)
def drift_detected(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    seen = int(context.cursor or 0)
    failed = [
        record
        for record in context.instance.event_log_storage.get_asset_check_execution_history(
            DRIFT_CHECK, limit=100, status={AssetCheckExecutionRecordStatus.FAILED}
        )
        if record.id > seen and record.event is not None
    ]
    if not failed:
        return dg.SkipReason("no new failed drift check")
    store = metadata_store_from_env()
    keys = production_keys(store)
    requests = []
    for record in sorted(failed, key=lambda r: r.id):
        evaluation = record.event.dagster_event.event_specific_data
        status = evaluation.metadata.get("status")
        if status is None or status.value != DRIFT:
            continue  # a warning (too few questions), not drift
        details = {k: v.value for k, v in evaluation.metadata.items()}
        store.alerts.add(
            Alert(
                kind="semantic_drift",
                key=f"semantic_drift:{record.run_id}",
                message=evaluation.description or "semantic drift detected",
                details=details
                | {
                    "run_id": record.run_id,
                    "evaluations_requested": keys,
                },
            )
        )
        requests += [
            dg.RunRequest(run_key=f"drift:{record.id}:{key}", partition_key=key) for key in keys
        ]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[PROMPT_VERSIONS.build_add_request(keys)] if requests else [],
        cursor=str(max(r.id for r in failed)),
    )
