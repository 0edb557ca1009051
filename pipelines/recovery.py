"""Clear what a killed in-process run left in a local Dagster instance.

A run started by `llmops ingest` executes in the CLI's own process. Killed hard (SIGKILL, OOM,
power loss), it never records an end: it stays STARTED and keeps its `lancedb_write` pool slot,
so the next run waits for that slot forever. Nothing was written to LanceDB (the index is
synced in one commit at the end), so failing the dead run and freeing its slots is all the
recovery there is.

A run stopped by SIGTERM ends as FAILURE but can leave its pending step in the pool, which
is then handed the slot; slots of ended runs are freed too (what Dagster's daemon does after
`free_slots_after_run_end_seconds`, here without a daemon).

Dead runs are only looked for in a local SQLite instance: every run in it was executed on this
machine, so a process id that no longer exists means the run is dead. On a shared PostgreSQL
instance runs execute on other hosts; there Dagster's run monitoring (deploy/dagster.yaml) fails
dead runs and frees their slots.
"""

from __future__ import annotations

import os

import dagster as dg
from dagster._core.storage.runs import SqliteRunStorage


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def run_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The process id the run started in, from its RUN_START event (None before it has one)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_START, limit=1
    ).records
    event = records[0].event_log_entry.dagster_event if records else None
    return event.pid if event is not None else None


def recover(instance: dg.DagsterInstance) -> list[str]:
    """Fail abandoned runs, then free every pool slot an ended run holds; returns run ids."""
    failed = fail_abandoned_runs(instance)
    return sorted(set(failed) | set(free_slots_of_ended_runs(instance)))


def free_slots_of_ended_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free pool slots and pending steps of runs that have ended; returns their run ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders: set[str] = set()
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        holders |= {s.run_id for s in info.claimed_slots}
        holders |= {s.run_id for s in info.pending_steps}
    ended = []
    for run_id in sorted(holders):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            ended.append(run_id)
    return ended


def fail_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark STARTED runs whose process is gone as failed (`free_slots_of_ended_runs` then
    frees their slots); returns their run ids. Does nothing unless the instance is local SQLite.
    """
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    failed = []
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        pid = run_pid(instance, run.run_id)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        instance.report_run_failed(
            run, f"the process that ran it (pid {pid}) is gone: killed or crashed mid-run"
        )
        failed.append(run.run_id)
    return failed
