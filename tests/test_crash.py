"""`llmops ingest` killed with SIGKILL mid-embedding, then run again, equals a clean ingest.

The killed run writes nothing to LanceDB (one commit at the end) but stays STARTED in the
Dagster instance holding the `lancedb_write` pool slot; `pipelines.recovery` fails it and frees
the slot, so the rerun does not wait forever. In a container the rerun has the dead run's PID
(PID 1 both times): the run is told dead by its PID with its start time, or by its expired
lease, and a live run of another container or process is never failed.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import lancedb
import numpy as np
import pytest

from llmops.config import Settings
from llmops.entrypoints.cli import main
from pipelines.recovery import ProcessIdentity, last_heartbeat
from tests.support.cli import llmops
from tests.support.files import write_docs
from tests.support.runs import started_run

pytestmark = pytest.mark.slow

WORDS = [
    "leave",
    "pension",
    "laptop",
    "travel",
    "expense",
    "badge",
    "parking",
    "training",
    "office",
    "payroll",
]


def write_corpus(folder: Path, documents: int = 138, sections: int = 8) -> None:
    """Short one-rule sections: about one chunk each, so 1,104 chunks encode in seconds."""
    rng = random.Random(0)
    folder.mkdir(parents=True)
    for d in range(documents):
        lines = [f"# Policy {d}", ""]
        for s in range(sections):
            a, b, c = rng.sample(WORDS, 3)
            rule = f"Rule {d}.{s}: the {a} limit for {b} is {rng.randint(1, 99)} {c} units."
            lines += [f"## Rule {s}", "", rule, ""]
        (folder / f"policy-{d:04d}.md").write_text("\n".join(lines), encoding="utf-8")


def kill_mid_embedding(home: Path, docs: Path, wrapper: Sequence[str] = ()) -> str:
    """Start `llmops ingest` (under the `wrapper` command, if any), SIGKILL it on its first
    `encoded N/M` line with N < M."""
    env = {**os.environ, "LLMOPS_HOME": str(home), "LLMOPS_DOCS_DIR": str(docs)}
    env.pop("DAGSTER_HOME", None)
    process = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "llmops.entrypoints.cli", "ingest"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = ""
    try:
        deadline = time.monotonic() + 240
        for line in process.stderr:
            if " encoded " in line:
                done, total = line.split(" encoded ")[1].split()[0].split("/")
                if int(done) < int(total):
                    seen = line.strip()
                    os.kill(process.pid, signal.SIGKILL)
                    break
            assert time.monotonic() < deadline, "no progress line within 240 s"
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stderr.close()
    assert seen, "the ingest ended before it reported partial progress"
    assert process.returncode == -signal.SIGKILL
    return seen


def chunk_table(home: Path):
    db = lancedb.connect(str(home / "lancedb"))
    names = [n for n in db.table_names() if n.startswith("chunks_")]
    return db.open_table(names[0]).to_arrow().sort_by("chunk_id") if names else None


def test_sigkill_mid_embedding_then_rerun_equals_a_clean_ingest(tmp_path):
    docs, crashed, clean = tmp_path / "docs", tmp_path / "crashed", tmp_path / "clean"
    write_corpus(docs)

    progress = kill_mid_embedding(crashed, docs)
    print(f"killed after: {progress}")
    assert chunk_table(crashed) is None  # nothing committed: the sync is one commit at the end

    with dg.DagsterInstance.from_config(str(crashed / "dagster")) as instance:
        (killed,) = instance.get_run_ids()
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED

    rerun = llmops("ingest", "--json", home=crashed, docs=docs)  # recovers the dead run itself
    assert rerun.returncode == 0, rerun.stderr
    assert f"recovered run {killed}" in rerun.stderr
    with dg.DagsterInstance.from_config(str(crashed / "dagster")) as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
    reference = llmops("ingest", "--json", home=clean, docs=docs)
    assert reference.returncode == 0, reference.stderr

    got, want = chunk_table(crashed), chunk_table(clean)
    ids = got["chunk_id"].to_pylist()
    assert len(ids) == len(set(ids)) == want.num_rows > 1024
    assert ids == want["chunk_id"].to_pylist()
    assert np.allclose(
        np.stack(got["vector"].to_numpy(zero_copy_only=False)),
        np.stack(want["vector"].to_numpy(zero_copy_only=False)),
        atol=1e-5,
    )


# A fresh PID namespace, as a container has: the command runs as PID 1, and SIGKILL of the
# `unshare` process kills it too.
CONTAINER = [
    "unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc",
    "--kill-child=SIGKILL",
]  # fmt: skip


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*CONTAINER, "sh", "-c", "test $$ = 1"], capture_output=True)
    return probe.returncode == 0


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home / "dagster"))


@pytest.mark.skipif(not _can_unshare(), reason="needs unshare with user and PID namespaces")
def test_sigkill_as_pid_1_of_a_container_then_rerun_as_pid_1_recovers(tmp_path, monkeypatch):
    """Both ingests run as PID 1 of their own PID namespace, as a container's CLI does: the
    rerun sees its own PID in the dead run, and recovers it once the dead run's lease is out."""
    docs, home = tmp_path / "docs", tmp_path / "home"
    write_corpus(docs, documents=80)  # 640 chunks: a progress line at 512 to kill it on
    monkeypatch.setenv("LLMOPS_RUN_LEASE_SECONDS", "3")

    kill_mid_embedding(home, docs, CONTAINER)
    with _instance(home) as instance:
        (killed,) = instance.get_run_ids()
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED
        assert instance.get_run_by_id(killed).tags["llmops/pid"] == "1"
        while time.time() - last_heartbeat(instance, killed) < 3.5:
            time.sleep(0.5)

    rerun = subprocess.run(
        [*CONTAINER, sys.executable, "-m", "llmops.entrypoints.cli", "ingest", "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "LLMOPS_HOME": str(home), "LLMOPS_DOCS_DIR": str(docs)},
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"recovered run {killed}" in rerun.stderr
    with _instance(home) as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        (recovering,) = [r for r in instance.get_run_ids() if r != killed]
        assert instance.get_run_by_id(recovering).tags["llmops/pid"] == "1"  # the same PID
        assert instance.get_run_by_id(recovering).is_success
        failure = instance.get_records_for_run(
            killed, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records[0]
        # the kernel may give the new namespace the dead one's inode: then the start time of
        # PID 1 tells them apart; otherwise the dead run's lease has expired
        message = failure.event_log_entry.dagster_event.message
        assert "pid 1 on" in message
        assert "is gone" in message or "lease expired" in message
    assert chunk_table(home).num_rows == 640


@pytest.mark.timeout(300)  # before the fix: waits for the slot forever
def test_the_cli_recovers_a_dead_run_that_had_its_own_pid(tmp_path, monkeypatch, capsys):
    """The container case in this process: the dead run recorded this very PID (a container's
    CLI is PID 1 every time), but a process that started earlier. The CLI fails it, frees the
    LanceDB write slot it held, and ingests; before, it skipped a run with its own PID and
    waited for the slot forever."""
    docs, home = tmp_path / "docs", tmp_path / "home"
    write_docs(docs, {"leave.md": "# Leave\n\nEveryone gets 27 days of leave a year.\n"})
    monkeypatch.setenv("LLMOPS_HOME", str(home))
    monkeypatch.setenv("LLMOPS_DOCS_DIR", str(docs))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    Settings.from_env().prepare_dagster_home()
    me = ProcessIdentity.current()
    earlier = ProcessIdentity(me.host, me.boot_id, me.pid_namespace, me.pid, me.started - 3600)
    with _instance(home) as instance:
        dead = started_run(instance, earlier)

    assert main(["ingest", "--json"]) == 0

    assert f"recovered run {dead}" in capsys.readouterr().err
    with _instance(home) as instance:
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        failure = instance.get_records_for_run(dead, of_type=dg.DagsterEventType.RUN_FAILURE)
        message = failure.records[0].event_log_entry.dagster_event.message
        assert f"its process (pid {me.pid} on {me.host}) is gone" in message
