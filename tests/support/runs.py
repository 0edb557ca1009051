"""Dagster runs as a process killed mid-embedding leaves them."""

import dagster as dg
from dagster._core.utils import make_new_run_id

from pipelines.recovery import ProcessIdentity

POOLS = {"concurrency": {"pools": {"default_limit": 1}}}  # as pipelines/dagster.yaml


def started_run(instance: dg.DagsterInstance, owner: ProcessIdentity | None) -> str:
    """A STARTED `reindex` run owned by `owner`, holding the `lancedb_write` slot, as a run
    whose process was killed mid-embedding leaves it."""
    run = dg.DagsterRun(
        job_name="reindex",
        run_id=make_new_run_id(),
        status=dg.DagsterRunStatus.STARTED,
        tags=owner.tags() if owner else {},
    )
    instance.add_run(run)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default("lancedb_write")
    claim = storage.claim_concurrency_slot("lancedb_write", run.run_id, "chunk_embeddings")
    assert claim.slot_status.value == "CLAIMED"
    return run.run_id
