"""Which STARTED runs `pipelines.recovery` fails: never a live one, whatever its PID.

The end-to-end cases (SIGKILL mid-ingest, PID 1 of a container twice) are in test_crash.py.
"""

import subprocess
import sys
import time

import dagster as dg

from pipelines.recovery import ProcessIdentity, fail_abandoned_runs, heartbeat, process_started
from tests.support.runs import POOLS, started_run


def test_a_live_run_of_another_container_is_never_failed(tmp_path, monkeypatch):
    """Another PID namespace (a container on a shared volume), PID 1 like ours: while its
    lease is renewed it stays STARTED; once the lease is out, it is failed."""
    monkeypatch.setenv("LLMOPS_RUN_LEASE_SECONDS", "60")
    me = ProcessIdentity.current()
    other = ProcessIdentity("worker-2", me.boot_id, "pid:[4026532999]", me.pid, me.started)
    with dg.instance_for_test(overrides=POOLS) as instance:
        run_id = started_run(instance, other)
        heartbeat(instance, run_id)
        assert fail_abandoned_runs(instance) == []
        heartbeat(instance, run_id, at=time.time() - 59)
        assert fail_abandoned_runs(instance) == []
        heartbeat(instance, run_id, at=time.time() - 61)
        assert fail_abandoned_runs(instance) == [run_id]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE


def test_a_live_run_of_another_process_here_is_never_failed():
    """Same namespace: the PID and its start time decide, with no lease to wait for."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        me = ProcessIdentity.current()
        started = process_started(child.pid)
        owner = ProcessIdentity(me.host, me.boot_id, me.pid_namespace, child.pid, started)
        with dg.instance_for_test(overrides=POOLS) as instance:
            run_id = started_run(instance, owner)
            assert fail_abandoned_runs(instance) == []
            child.kill()
            child.wait(timeout=30)
            assert fail_abandoned_runs(instance) == [run_id]
    finally:
        child.kill()
        child.wait(timeout=30)


def test_a_run_of_this_process_is_alive():
    with dg.instance_for_test(overrides=POOLS) as instance:
        started_run(instance, ProcessIdentity.current())
        assert fail_abandoned_runs(instance) == []
