"""Clear what a killed in-process run left in a Dagster instance, without touching live runs.

A run started by `llmops ingest` executes in the CLI's own process. Killed hard (SIGKILL, OOM,
power loss, a container stopped), it never records an end: it stays STARTED and keeps its
`lancedb_write` pool slot, so the next run waits for that slot forever. Nothing was written to
LanceDB (the index is synced in one commit at the end), so failing the dead run and freeing its
slots is all the recovery there is.

A process id alone cannot tell whether that run is dead. In a container the CLI is PID 1 every
time, so the rerun sees "its own" PID in the dead run; and a SQLite instance on a shared volume
holds runs of other containers, whose PIDs mean nothing here. So every run llmops starts
records who runs it, as run tags: the host name, the kernel's boot id and PID namespace, the
PID and the process start time. While it runs it renews a lease: a heartbeat every
`HEARTBEAT_SECONDS` in the instance's key-value store. A STARTED run is abandoned when

- it ran in this PID namespace (same boot, same namespace) and no process has its PID with its
  start time any more: a PID reused by another process, this CLI included, does not keep it;
- it ran anywhere else (another host, container or boot): its lease expired, no heartbeat for
  `LLMOPS_RUN_LEASE_SECONDS` (default 60). A live run of another container keeps beating, so it
  is never failed.

Runs without these tags (launched by the webserver or the daemon of `llmops ui`, or recorded by
an older llmops) carry only the PID of their RUN_START event. They are judged only in a local
SQLite instance, whose runs all execute on this machine: dead when no process has that PID, or
the process that has it started after the run did. On a shared PostgreSQL instance such runs are
left to Dagster's run monitoring (deploy/dagster.yaml).

A run stopped by SIGTERM ends as FAILURE but can leave its pending step in the pool, which
is then handed the slot; slots of ended runs are freed too (what Dagster's daemon does after
`free_slots_after_run_end_seconds`, here without a daemon).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
from dagster._core.storage.runs import SqliteRunStorage

from llmops.config import positive_int_env

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
DEFAULT_LEASE_SECONDS = 60
TAG_PREFIX = "llmops/"
_HOST, _BOOT, _PID_NAMESPACE, _PID, _STARTED = (
    f"{TAG_PREFIX}{name}" for name in ("host", "boot_id", "pid_namespace", "pid", "started")
)
_START_TOLERANCE = 0.05  # seconds: one process's start time, read twice, differs by rounding


def lease_seconds() -> int:
    """How long a run of another host or container may go without a heartbeat before it
    counts as dead (`LLMOPS_RUN_LEASE_SECONDS`, default 60); keep it well above 10 s."""
    return positive_int_env("LLMOPS_RUN_LEASE_SECONDS", DEFAULT_LEASE_SECONDS)


def _boot_id() -> str:
    """The kernel's boot id (Linux), else the boot time: PIDs of another boot mean nothing."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return f"booted {psutil.boot_time():.0f}"


def _pid_namespace() -> str:
    """`pid:[inode]` of this process's PID namespace (Linux; a container has its own)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_started(pid: int) -> float | None:
    """The start time (epoch seconds) of the process `pid` here, None when there is none."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


@dataclass(frozen=True)
class ProcessIdentity:
    """Who runs a run: a PID is only meaningful with its namespace and its start time."""

    host: str
    boot_id: str
    pid_namespace: str
    pid: int
    started: float

    @classmethod
    def current(cls) -> ProcessIdentity:
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            boot_id=_boot_id(),
            pid_namespace=_pid_namespace(),
            pid=pid,
            started=process_started(pid) or 0.0,
        )

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> ProcessIdentity | None:
        try:
            return cls(
                tags[_HOST],
                tags[_BOOT],
                tags[_PID_NAMESPACE],
                int(tags[_PID]),
                float(tags[_STARTED]),
            )
        except (KeyError, ValueError):
            return None

    def tags(self) -> dict[str, str]:
        return {
            _HOST: self.host,
            _BOOT: self.boot_id,
            _PID_NAMESPACE: self.pid_namespace,
            _PID: str(self.pid),
            _STARTED: f"{self.started:.2f}",
        }

    def shares_pids_with(self, other: ProcessIdentity) -> bool:
        """Whether a PID of `other` names the same process table as one of ours."""
        return (self.host, self.boot_id, self.pid_namespace) == (
            other.host,
            other.boot_id,
            other.pid_namespace,
        )

    def is_running(self) -> bool:
        """Whether this process still runs (to be asked only where `shares_pids_with` holds)."""
        started = process_started(self.pid)
        return started is not None and abs(started - self.started) < _START_TOLERANCE

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _heartbeat_key(run_id: str) -> str:
    return f"{TAG_PREFIX}heartbeat/{run_id}"


def heartbeat(instance: dg.DagsterInstance, run_id: str, at: float | None = None) -> None:
    """Renew the lease of `run_id` (now, or at the epoch time `at`)."""
    value = f"{time.time() if at is None else at:.3f}"
    instance.run_storage.set_cursor_values({_heartbeat_key(run_id): value})


def last_heartbeat(instance: dg.DagsterInstance, run_id: str) -> float | None:
    value = instance.run_storage.get_cursor_values({_heartbeat_key(run_id)}).get(
        _heartbeat_key(run_id)
    )
    try:
        return float(value) if value else None
    except ValueError:
        return None


@contextlib.contextmanager
def run_lease(instance: dg.DagsterInstance, run_id: str) -> Iterator[dict[str, str]]:
    """Hold the lease of run `run_id` while the block runs it in this process; yields the
    tags that record this process as the run's owner (pass them to the run)."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                heartbeat(instance, run_id)
            except Exception as exc:  # a locked database this time; the next beat retries
                log.debug("heartbeat of run %s failed: %s", run_id, exc)
            if stop.wait(HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=beat, name=f"lease-{run_id[:8]}", daemon=True)
    thread.start()
    try:
        yield ProcessIdentity.current().tags()
    finally:
        stop.set()
        thread.join(timeout=HEARTBEAT_SECONDS)


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


def abandoned_because(instance: dg.DagsterInstance, record: dg.RunRecord) -> str | None:
    """Why the STARTED run of `record` is dead (its failure records it), or None while it
    may be alive."""
    run = record.dagster_run
    owner = ProcessIdentity.from_tags(run.tags)
    if owner is None:
        return _untagged_run_abandoned(instance, record)
    if owner.shares_pids_with(ProcessIdentity.current()):
        if owner.is_running():
            return None
        return f"its process ({owner.describe()}) is gone: killed or crashed mid-run"
    last = last_heartbeat(instance, run.run_id) or record.start_time or owner.started
    silent = time.time() - last
    if silent < lease_seconds():
        return None
    return (
        f"its lease expired: no heartbeat from {owner.describe()} for {silent:.0f} s "
        f"(LLMOPS_RUN_LEASE_SECONDS={lease_seconds()})"
    )


def _untagged_run_abandoned(instance: dg.DagsterInstance, record: dg.RunRecord) -> str | None:
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return None  # runs of other hosts: Dagster's run monitoring judges them
    pid = run_pid(instance, record.dagster_run.run_id)
    if pid is None:
        return None
    started = process_started(pid)
    if started is not None and (record.start_time is None or started <= record.start_time + 1):
        return None  # a process that started before the run did: plausibly its own
    return f"the process that ran it (pid {pid}) is gone: killed or crashed mid-run"


def fail_abandoned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark STARTED runs whose process is gone as failed (`free_slots_of_ended_runs` then
    frees their slots); returns their run ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        reason = abandoned_because(instance, record)
        if reason is None:
            continue
        instance.report_run_failed(record.dagster_run, reason)
        failed.append(record.dagster_run.run_id)
    return failed
