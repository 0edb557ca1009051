"""`llmops ingest` killed with SIGKILL mid-embedding, then run again, equals a clean ingest.

The killed run writes nothing to LanceDB (one commit at the end) but stays STARTED in the
Dagster instance holding the `lancedb_write` pool slot; `pipelines.recovery` fails it and frees
the slot, so the rerun does not wait forever.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import lancedb
import numpy as np
import pytest

from tests.test_cli import llmops

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


def kill_mid_embedding(home: Path, docs: Path) -> str:
    """Start `llmops ingest`, SIGKILL it on its first `encoded N/M` line with N < M."""
    env = {**os.environ, "LLMOPS_HOME": str(home), "LLMOPS_DOCS_DIR": str(docs)}
    env.pop("DAGSTER_HOME", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "llmops.entrypoints.cli", "ingest"],
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
