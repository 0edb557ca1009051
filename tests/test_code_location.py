"""The code location as the Dagster UI and its daemon load it, and automation through the daemon.

`dagster definitions validate` runs the repository validation the webserver and the daemon run
(the CLI's in-process jobs skip it). Then `llmops ui` starts the real `dagster-webserver` and
`dagster-daemon` on a free port with a temporary home: the GraphQL API must list every asset,
group, job, schedule and sensor of the definitions; a file added to the docs folder must make the
daemon's `documents_changed` sensor launch `reindex`, after which the new text is searchable; and
a schedule whose cron is every minute must have its run launched by the daemon.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from llmops.entrypoints.ui import DagsterGraphQL, free_port, port_free
from pipelines.definitions import defs
from tests.support.files import PROJECT_ROOT, write_docs

BIN = Path(sys.executable).parent
REPOSITORY = {"repositoryLocationName": "llmops", "repositoryName": "__repository__"}
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
NEW_DOC_TEXT = (
    "# Beekeeping\n\nThe rooftop beehives are inspected by the facilities team every Thursday "
    "morning; wear the veil stored in locker 12.\n"
)


def test_workspace_passes_dagster_validation(tmp_path: Path):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "pipelines" / "dagster.yaml", home)
    done = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(home), "LLMOPS_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Validation successful for code location llmops" in output


def test_an_asset_and_a_job_of_one_name_fail_validation():
    """The break of issue 14 (asset and job both `context_experiments`) is what validation
    catches, so the test above would have failed on it."""
    clash = dg.define_asset_job("eval_scores", selection=dg.AssetSelection.assets("eval_scores"))
    broken = dg.Definitions.merge(defs, dg.Definitions(jobs=[clash]))
    with pytest.raises(dg.DagsterInvalidDefinitionError, match="Conflicting definitions"):
        broken.get_repository_def().get_all_jobs()


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`llmops ui` on a free port: a temporary home, a one-document docs folder, no prompts
    (so no evaluation runs), and the monitoring schedule due once, in about two minutes."""
    root = tmp_path_factory.mktemp("ui")
    docs = root / "docs"
    write_docs(docs, {"leave.md": "# Leave\n\nEveryone gets 27 days of annual leave.\n"})
    (root / "prompts").mkdir()
    port = free_port()
    env = {
        **os.environ,
        "LLMOPS_HOME": str(root / "home"),
        "LLMOPS_DOCS_DIR": str(docs),
        "LLMOPS_PROMPTS_DIR": str(root / "prompts"),
        "LLMOPS_EVALSETS_DIR": str(PROJECT_ROOT / "evalsets"),
        "LLMOPS_CONTEXTS_DIR": str(PROJECT_ROOT / "contexts"),
        "LLMOPS_MONITORING_CRON": once_soon(),
    }
    for name in ("DAGSTER_HOME", "LLMOPS_DATABASE_URL", "LLMOPS_LANCEDB_URI"):
        env.pop(name, None)
    out = root / "ui.out"
    with out.open("w") as stdout:
        process = subprocess.Popen(
            [str(BIN / "llmops"), "ui", "--port", str(port)],
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    graphql = DagsterGraphQL(f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: "Dagster UI:" in out.read_text() or process.poll() is not None, 240)
        assert process.poll() is None, out.read_text()
        yield {"graphql": graphql, "docs": docs, "env": env, "out": out, "root": root}
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, out.read_text()
    # the services stopped with it: nothing listens on the port any more
    assert port_free("127.0.0.1", port)


def once_soon() -> str:
    """A daily cron whose one tick today falls two to three minutes from now (UTC): after the
    services have loaded, and only once during the test."""
    at = datetime.now(UTC) + timedelta(seconds=150)
    return f"{at.minute} {at.hour} * * *"


def wait_for(condition: Callable[[], object], timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every)
    raise AssertionError(f"not true after {timeout:.0f} s")


def runs(graphql: DagsterGraphQL, job: str, tag: tuple[str, str]) -> list[dict]:
    data = graphql.query(
        """query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results {
             runId status creationTime tags { key value } } } } }""",
        {"f": {"pipelineName": job, "tags": [{"key": tag[0], "value": tag[1]}]}},
    )
    return data["runsOrError"]["results"]


def finished(graphql: DagsterGraphQL, job: str, tag: tuple[str, str], run_id: str) -> str | None:
    """The final status of run `run_id`, or None while it is queued or running."""
    status = next(r["status"] for r in runs(graphql, job, tag) if r["runId"] == run_id)
    return status if status in FINISHED else None


@pytest.mark.slow
def test_the_ui_loads_every_definition(ui: dict):
    graphql = ui["graphql"]
    assert graphql.location_status() == ("LOADED", None)
    data = graphql.query(
        """query($s: RepositorySelector!) { repositoryOrError(repositorySelector: $s) {
             __typename ... on PythonError { message }
             ... on Repository { jobs { name } assetGroups { groupName }
               assetNodes { assetKey { path } groupName }
               schedules { name cronSchedule scheduleState { status } }
               sensors { name sensorState { status } } } } }""",
        {"s": REPOSITORY},
    )["repositoryOrError"]
    assert data["__typename"] == "Repository", data
    graph = defs.resolve_asset_graph()
    expected_assets = {
        key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()
    }
    shown = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in data["assetNodes"]}
    assert shown == expected_assets
    assert {g["groupName"] for g in data["assetGroups"]} == set(expected_assets.values())
    repository = defs.get_repository_def()
    expected_jobs = {j.name for j in repository.get_all_jobs() if not j.name.startswith("__")}
    assert {j["name"] for j in data["jobs"] if not j["name"].startswith("__")} == expected_jobs
    assert {s["name"] for s in data["schedules"]} == {s.name for s in repository.schedule_defs}
    assert {s["name"] for s in data["sensors"]} == {s.name for s in repository.sensor_defs}
    assert len(data["sensors"]) == 6
    assert len(data["schedules"]) == 3
    for instigator in data["schedules"]:
        assert instigator["scheduleState"]["status"] == "RUNNING", instigator
    for instigator in data["sensors"]:
        assert instigator["sensorState"]["status"] == "RUNNING", instigator
    welcome = ui["out"].read_text()
    assert "code location 'llmops' loaded" in welcome
    assert "SupersessionWarning" not in welcome
    assert "dagster.yaml" not in welcome


@pytest.mark.slow
def test_a_new_document_is_indexed_by_the_daemon(ui: dict):
    graphql, docs = ui["graphql"], ui["docs"]
    tag = ("dagster/sensor_name", "documents_changed")
    # the sensor's first tick indexes the folder as it is; let that run finish first
    first = wait_for(lambda: runs(graphql, "reindex", tag), 180)
    wait_for(lambda: all(r["status"] in FINISHED for r in runs(graphql, "reindex", tag)), 300)
    assert {r["status"] for r in runs(graphql, "reindex", tag)} == {"SUCCESS"}

    added_at = time.time()
    write_docs(docs, {"facilities/bees.md": NEW_DOC_TEXT})
    launched = wait_for(
        lambda: [r for r in runs(graphql, "reindex", tag) if r["creationTime"] > added_at], 180
    )
    assert len(first) >= 1
    [run] = launched
    assert wait_for(lambda: finished(graphql, "reindex", tag, run["runId"]), 300) == "SUCCESS"

    # the instance's run storage: the run was requested by a tick of the sensor in the daemon
    instance = dg.DagsterInstance.from_config(str(Path(ui["env"]["LLMOPS_HOME"]) / "dagster"))
    try:
        stored = instance.get_run_by_id(run["runId"])
        assert stored.job_name == "reindex"
        assert stored.tags["dagster/sensor_name"] == "documents_changed"
        [state] = [s for s in instance.all_instigator_state() if s.name == "documents_changed"]
        ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
        assert any(run["runId"] in tick.run_ids for tick in ticks)
    finally:
        instance.dispose()

    found = subprocess.run(
        [str(BIN / "llmops"), "search", "When are the rooftop beehives inspected?", "--json"],
        env=ui["env"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)["results"][0]
    assert top["source"] == "facilities/bees.md"
    assert "locker 12" in top["text"]


@pytest.mark.slow
def test_a_schedule_launches_its_run_through_the_daemon(ui: dict):
    graphql = ui["graphql"]
    tag = ("dagster/schedule_name", "daily_monitoring")
    [run] = wait_for(lambda: runs(graphql, "monitoring", tag), 240)
    assert wait_for(lambda: finished(graphql, "monitoring", tag, run["runId"]), 300) == "SUCCESS"
