"""UI check: the asset graph as a person sees it in a real browser.

Run from the project root: `make ui-check`, or once Playwright is installed
(the `dev` extra) and Debian's Chromium is at /usr/bin/chromium:

    .venv/bin/python bench/ui_check.py [--home DIR] [--port N] [--timeout S] [--skip-eval]

What it does, in order:

1. starts `llmops ui` (the webserver and daemon `make run` starts) on the sample project
   (`pipelines.definitions`, docs `corpus/`, prompts `prompts/`) with `LLMOPS_HOME=--home`
   (default `.llmops/ui-check`, kept apart from the state of `make run`) on a free port, and
   waits until the code location loaded: a load error fails the check before anything else;
2. switches this instance's sensors and schedules off, so the check's own runs are the only ones
   (the sensors would otherwise queue evaluations after the re-index), and waits for runs they
   already queued;
3. materializes, through the Dagster GraphQL API of the running instance, one job after the
   other: `reindex`, `register_prompts`, `calibrate_judge` (says "no judge configured" without
   `LLMOPS_JUDGE_MODEL`), `monitoring`, `propose_eval_cases`, `drift` for yesterday's UTC
   partition, `register_contexts`, and
   `evaluate` for the production version of each prompt (`answer`, `answer-concise`);
4. opens in headless Chromium (Playwright with `executable_path`; no browser download), after
   dismissing Dagster's one-time "Join the community" dialog, the code locations page, the
   global asset graph (`/asset-groups`, all groups expanded, zoomed out to fit), each group's
   graph at full detail, the lineage of `chunk_embeddings` (nearest neighbours, depth 2) and
   the metadata plots of `eval_scores` (Overview → Metadata → Plots), and saves
   `code-locations.png`, `asset-graph.png`, `group-GROUP.png`, `lineage-chunk_embeddings.png` and
   `plots-eval_scores.png` under `$LLMOPS_HOME/reports/ui/`, next to `llmops-ui.log`;
5. starts `llmops serve` on the same home and opens its /docs in Chromium with every request
   that leaves 127.0.0.1 refused: Swagger UI must render from the assets the service serves
   (`api-docs-offline.png`);
6. stops `llmops ui` with Ctrl-C, which stops both services.

Evaluation: the full 48-question eval set takes about 20 minutes with the local 135M model, so
`evaluate` runs on a 3-question copy of `evalsets/handbook.jsonl` (two answerable questions, one
unanswerable) written to `$LLMOPS_HOME/evalsets/`, which `LLMOPS_EVALSETS_DIR` points at for this
instance. The answers and scores are real (same model, same code path), on fewer questions.
`--skip-eval` leaves the evaluation assets unmaterialized (the group must still appear).

It fails (exit 1, naming what is wrong) when the code location does not load or is not shown as
loaded, a run does not succeed, the global graph misses one of GROUPS, a group's graph misses
one of its assets, shows a "Failed" marker or an error banner, or does not show "Materialized"
on each unpartitioned asset (partitioned ones show the share of partitions filled), the lineage
view misses `chunk_embeddings` or its neighbours `document_chunks` (upstream) and
`eval_answers` (downstream), the plots of `eval_scores` miss `hit@5` or `abstention_accuracy`
(not checked with `--skip-eval`), or /docs does not render offline. On a browser error the page
is saved as `failure.png`. Bad arguments, or Playwright or /usr/bin/chromium missing, exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from llmops.entrypoints.ui import CodeLocationError, DagsterGraphQL, free_port, port_free

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # reported by parse_args
    sync_playwright = None

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHROMIUM = Path("/usr/bin/chromium")
LOCATION = "llmops"
REPOSITORY = "__repository__"
GROUPS = ("corpus", "index", "prompts", "evaluation", "monitoring", "context", "guardrails")
EVAL_QUESTION_IDS = ("hb-001", "hb-002", "hb-045")
EVAL_ASSETS = ("eval_dataset", "eval_answers", "eval_scores")
LINEAGE_ASSET = "chunk_embeddings"
LINEAGE_NEIGHBOURS = ("document_chunks", "eval_answers")
# Partitioned by prompt version: the UI plots each metric's mean across the versions evaluated.
PLOT_ASSET = "eval_scores"
PLOT_METADATA = ("hit@5", "abstention_accuracy")
# Text the Dagster UI shows for a failed materialization or a page that did not load.
ERROR_MARKERS = (
    "Failed",
    "PythonError",
    "Something went wrong",
    "Unable to load",
    "Error loading",
    "Code location error",
)
ACTIVE_RUN_STATUSES = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
FINISHED_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}


class CheckFailed(Exception):
    """Something the check expects is missing or wrong; the message says what."""


@dataclass
class Job:
    """One job launch: its name, what it materializes, and its partition (if any)."""

    name: str
    assets: tuple[str, ...]
    partition: str | None = None


def log(message: str) -> None:
    print(f"[ui-check {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- dagster dev -----------------------------------------------------------------------------


def write_small_evalset(folder: Path) -> Path:
    """The questions EVAL_QUESTION_IDS of evalsets/handbook.jsonl, as `handbook.jsonl` in folder."""
    source = PROJECT_ROOT / "evalsets" / "handbook.jsonl"
    lines = [
        line
        for line in source.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["id"] in EVAL_QUESTION_IDS
    ]
    if len(lines) != len(EVAL_QUESTION_IDS):
        raise CheckFailed(f"{source} lacks some of the questions {', '.join(EVAL_QUESTION_IDS)}")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "handbook.jsonl"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def instance_env(home: Path, evalsets_dir: Path) -> dict[str, str]:
    """The environment of `dagster dev`: this check's home, the sample project's inputs."""
    env = dict(os.environ)
    for name in ("LLMOPS_DATABASE_URL", "LLMOPS_LANCEDB_URI"):
        env.pop(name, None)  # defaults under LLMOPS_HOME: never write into another installation
    env.update(
        LLMOPS_HOME=str(home),
        DAGSTER_HOME=str(home / "dagster"),
        LLMOPS_DOCS_DIR=str(PROJECT_ROOT / "corpus"),
        LLMOPS_PROMPTS_DIR=str(PROJECT_ROOT / "prompts"),
        LLMOPS_EVALSETS_DIR=str(evalsets_dir),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def start_ui(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`llmops ui` (what `make run` starts) as the leader of a new process group."""
    log(f"starting llmops ui on http://127.0.0.1:{port} (its output: {log_path})")
    with log_path.open("w", encoding="utf-8") as out:
        return subprocess.Popen(
            [str(BIN / "llmops"), "ui", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_ui(process: subprocess.Popen, grace: float = 60.0) -> None:
    """Ctrl-C to `llmops ui` (it stops the webserver and the daemon), then KILL to its group
    (the services then outlive it: their process groups are their own)."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log(f"llmops ui still running after {grace:.0f} s; killing its group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)
            process.wait()
    log("llmops ui stopped")


# --- GraphQL ---------------------------------------------------------------------------------


class Dagster(DagsterGraphQL):
    """The GraphQL API of the running webserver, with what this check launches and reads."""

    def wait_ready(self, process: subprocess.Popen, timeout: float) -> None:
        """Until the code location is loaded; CheckFailed if it failed or `llmops ui` exited."""
        try:
            self.wait_loaded(lambda: process.poll() is None, timeout)
        except CodeLocationError as error:
            raise CheckFailed(str(error)) from error

    def stop_automation(self) -> None:
        """Switch every running sensor and schedule of the code location off."""
        selector = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
        data = self.query(
            """query($s: RepositorySelector!) {
                 sensorsOrError(repositorySelector: $s) { ... on Sensors {
                   results { name sensorState { id status } } } }
                 schedulesOrError(repositorySelector: $s) { ... on Schedules {
                   results { name scheduleState { id status } } } } }""",
            {"s": selector},
        )
        stopped = []
        for sensor in data["sensorsOrError"]["results"]:
            if sensor["sensorState"]["status"] == "RUNNING":
                self.query(
                    "mutation($id: String!) { stopSensor(id: $id) { __typename } }",
                    {"id": sensor["sensorState"]["id"]},
                )
                stopped.append(sensor["name"])
        for schedule in data["schedulesOrError"]["results"]:
            if schedule["scheduleState"]["status"] == "RUNNING":
                self.query(
                    "mutation($id: String!) { stopRunningSchedule(id: $id) { __typename } }",
                    {"id": schedule["scheduleState"]["id"]},
                )
                stopped.append(schedule["name"])
        log(f"switched off: {', '.join(stopped) if stopped else 'nothing was running'}")

    def active_runs(self) -> list[dict[str, str]]:
        data = self.query(
            """query($s: [RunStatus!]) { runsOrError(filter: {statuses: $s}) {
                 ... on Runs { results { runId jobName status } } } }""",
            {"s": ACTIVE_RUN_STATUSES},
        )
        return data["runsOrError"]["results"]

    def wait_idle(self, timeout: float) -> None:
        """Until no run is queued or in progress (runs the sensors launched before step 2)."""
        deadline = time.monotonic() + timeout
        announced = False
        while runs := self.active_runs():
            if not announced:
                names = ", ".join(f"{r['jobName']} ({r['status'].lower()})" for r in runs)
                log(f"waiting for runs launched before the sensors were off: {names}")
                announced = True
            if time.monotonic() > deadline:
                raise CheckFailed(f"runs still active after {timeout:.0f} s: {runs}")
            time.sleep(3)

    def partition_keys(self, asset: str) -> list[str]:
        data = self.query(
            """query($k: AssetKeyInput!) { assetNodeOrError(assetKey: $k) {
                 ... on AssetNode { partitionKeys } } }""",
            {"k": {"path": [asset]}},
        )
        return data["assetNodeOrError"].get("partitionKeys") or []

    def asset_groups(self) -> dict[str, str]:
        data = self.query("{ assetNodes { assetKey { path } groupName } }")
        return {"/".join(n["assetKey"]["path"]): n["groupName"] for n in data["assetNodes"]}

    def unpartitioned_assets(self) -> set[str]:
        data = self.query("{ assetNodes { assetKey { path } isPartitioned } }")
        return {
            "/".join(n["assetKey"]["path"]) for n in data["assetNodes"] if not n["isPartitioned"]
        }

    def launch(self, job: Job) -> str:
        tags = [{"key": "llmops/launched_by", "value": "bench/ui_check.py"}]
        if job.partition:
            tags.append({"key": "dagster/partition", "value": job.partition})
        data = self.query(
            """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
                 __typename ... on LaunchRunSuccess { run { runId } }
                 ... on PythonError { message } ... on RunConfigValidationInvalid {
                   errors { message } } ... on InvalidSubsetError { message } } }""",
            {
                "p": {
                    "selector": {
                        "repositoryLocationName": LOCATION,
                        "repositoryName": REPOSITORY,
                        "jobName": job.name,
                    },
                    "runConfigData": {},
                    "executionMetadata": {"tags": tags},
                }
            },
        )
        result = data["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            detail = result.get("message") or result.get("errors") or result["__typename"]
            raise CheckFailed(f"could not launch job {job.name}: {detail}")
        return result["run"]["runId"]

    def wait_run(self, run_id: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.query(
                "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                {"id": run_id},
            )
            status = data["runOrError"]["status"]
            if status in FINISHED_RUN_STATUSES:
                return status
            time.sleep(3)
        raise CheckFailed(f"run {run_id} not finished after {timeout:.0f} s")

    def failure_message(self, run_id: str) -> str:
        """The step errors of a failed run, or where to look when they cannot be read."""
        try:
            return self._step_errors(run_id)
        except (CheckFailed, CodeLocationError, urllib.error.URLError, KeyError, TypeError):
            return f"see the run in the UI ({self.base_url}/runs/{run_id})"

    def _step_errors(self, run_id: str) -> str:
        data = self.query(
            """query($id: ID!) { logsForRun(runId: $id) { ... on EventConnection { events {
                 __typename ... on ExecutionStepFailureEvent { stepKey error { message } }
                 ... on RunFailureEvent { message } } } } }""",
            {"id": run_id},
        )
        messages = []
        for event in data["logsForRun"].get("events", []):
            if event["__typename"] == "ExecutionStepFailureEvent":
                messages.append(f"{event['stepKey']}: {event['error']['message'].strip()}")
            elif event["__typename"] == "RunFailureEvent":
                messages.append(event["message"])
        return "; ".join(messages)[:1500] or "no failure event"


# --- materializing ---------------------------------------------------------------------------


def production_partitions(home: Path, keys: list[str]) -> list[str]:
    """The partition keys `NAME@VERSION` that are the production version of their prompt."""
    from llmops.storage.metadata.client import MetadataClient

    store = MetadataClient(url=f"sqlite:///{home / 'llmops.db'}")
    production = []
    for key in keys:
        name, _, version = key.partition("@")
        if store.prompts.label(name, "production") == version:
            production.append(key)
    if not production:
        raise CheckFailed(f"no production prompt version among the partitions {keys}")
    return production


def jobs_to_run(yesterday: str) -> list[Job]:
    return [
        Job("reindex", ("source_documents", "document_chunks", "chunk_embeddings")),
        Job("register_prompts", ("prompt_versions",)),
        Job("calibrate_judge", ("judge_calibration",)),
        Job("monitoring", ("cost_report", "feedback_summary", "guardrail_report")),
        Job("propose_eval_cases", ("feedback_summary", "feedback_eval_candidates")),
        Job("drift", ("query_log", "query_embeddings", "embedding_drift_report"), yesterday),
        Job("register_contexts", ("context_versions",)),
    ]


def run_job(dagster: Dagster, job: Job, timeout: float) -> None:
    label = f"{job.name}" + (f" [{job.partition}]" if job.partition else "")
    started = time.monotonic()
    run_id = dagster.launch(job)
    log(f"run {label}: launched {run_id[:8]}, materializes {', '.join(job.assets)}")
    status = dagster.wait_run(run_id, timeout)
    seconds = time.monotonic() - started
    if status != "SUCCESS":
        raise CheckFailed(
            f"run {label} ({run_id}) ended {status}: {dagster.failure_message(run_id)}"
        )
    log(f"run {label}: SUCCESS in {seconds:.0f} s")


def materialize(dagster: Dagster, home: Path, skip_eval: bool, timeout: float) -> list[str]:
    """Run the jobs one after the other; the names of the assets they materialized."""
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    materialized: list[str] = []
    for job in jobs_to_run(yesterday):
        run_job(dagster, job, timeout)
        materialized.extend(a for a in job.assets if a not in materialized)
    if skip_eval:
        log("evaluation assets skipped (--skip-eval): the group is checked, not their status")
        return materialized
    partitions = production_partitions(home, dagster.partition_keys("eval_dataset"))
    log(
        f"evaluating the production prompts {', '.join(partitions)} on "
        f"{len(EVAL_QUESTION_IDS)} questions with the real chat model"
    )
    for partition in partitions:
        run_job(dagster, Job("evaluate", EVAL_ASSETS, partition), timeout)
    materialized.extend(EVAL_ASSETS)
    return materialized


def check_groups(dagster: Dagster, materialized: list[str]) -> dict[str, list[str]]:
    """Every group is defined and every materialized asset belongs to one (GraphQL): the assets
    of each group."""
    groups = dagster.asset_groups()
    missing = [g for g in GROUPS if g not in groups.values()]
    if missing:
        raise CheckFailed(f"groups missing from the definitions: {', '.join(missing)}")
    unknown = [a for a in materialized if a not in groups]
    if unknown:
        raise CheckFailed(f"assets missing from the definitions: {', '.join(unknown)}")
    return {g: sorted(a for a, group in groups.items() if group == g) for g in GROUPS}


# --- browser ---------------------------------------------------------------------------------


def dismiss_dialogs(page: Any) -> None:
    """Close the one-time "Join the Dagster community" dialog if it shows."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(state="visible", timeout=3000)
    except PlaywrightTimeout:  # the dialog did not show
        return
    skip.click()
    page.wait_for_timeout(500)


def page_text(page: Any) -> str:
    return page.locator("body").inner_text()


def find_errors(text: str) -> list[str]:
    return [marker for marker in ERROR_MARKERS if marker in text]


def wait_loaded(page: Any, timeout_ms: int = 60_000) -> None:
    """Until no asset node says "Loading..." (its status arrives after the layout)."""
    page.wait_for_function(
        "() => !document.body.innerText.includes('Loading...')", timeout=timeout_ms
    )
    page.wait_for_timeout(1500)


def check_asset_graph(page: Any, base_url: str, assets: list[str], out: Path) -> None:
    """The global graph, every group expanded and zoomed out to fit: all groups present."""
    page.goto(f"{base_url}/asset-groups", wait_until="networkidle")
    page.get_by_text("Global asset lineage").first.wait_for(timeout=60_000)
    dismiss_dialogs(page)
    page.get_by_text(GROUPS[0], exact=True).first.wait_for(timeout=60_000)
    page.locator("button:has([aria-label='settings'])").last.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.get_by_text(LINEAGE_ASSET, exact=True).first.wait_for(timeout=30_000)
    for _ in range(4):  # the expanded graph (six groups) is taller than the window
        page.locator("button:has([aria-label='zoom_out'])").click()
        page.wait_for_timeout(300)
    page.wait_for_timeout(1500)
    reset_scroll(page)
    center_graph(page, [*GROUPS, *assets])
    page.screenshot(path=str(out))
    log(f"saved {out}")
    text = page_text(page)
    missing = [g for g in GROUPS if text.count(g) < 2]  # the side tree names each group too
    if missing:
        raise CheckFailed(f"asset graph lacks the groups: {', '.join(missing)} (see {out})")
    errors = find_errors(text)
    if errors:
        raise CheckFailed(f"asset graph shows {', '.join(map(repr, errors))} (see {out})")
    log(f"asset graph: all {len(GROUPS)} groups shown, no error marker")


def center_graph(page: Any, names: list[str]) -> None:
    """Pan the graph so the labels `names` (groups, assets) sit around the middle of the canvas."""
    search = page.get_by_text("Search and filter assets").first.bounding_box(timeout=5000)
    if not search:
        return
    size = page.viewport_size
    top = search["y"] + search["height"] + 10  # the canvas lies below the search bar
    canvas = {
        "x": search["x"],
        "y": top,
        "width": size["width"] - search["x"],
        "height": size["height"] - top,
    }
    boxes = []
    for name in names:
        labels = page.get_by_text(name, exact=True)
        for index in range(labels.count()):
            try:
                box = labels.nth(index).bounding_box(timeout=1000)
            except PlaywrightTimeout:  # not rendered: outside the visible part of the graph
                continue
            if box and box["x"] >= canvas["x"]:  # not the group tree beside the graph
                boxes.append(box)
    if not boxes:
        return
    middle_x = (min(b["x"] for b in boxes) + max(b["x"] + b["width"] for b in boxes)) / 2
    middle_y = (min(b["y"] for b in boxes) + max(b["y"] + b["height"] for b in boxes)) / 2
    center_x, center_y = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    page.mouse.move(center_x, center_y)
    page.mouse.wheel(middle_x - center_x, middle_y - center_y)  # the wheel pans the graph
    page.wait_for_timeout(1000)
    reset_scroll(page)
    page.mouse.wheel(0, 1)  # redraw: nodes that came into view render
    page.wait_for_timeout(2500)


def reset_scroll(page: Any) -> None:
    """Undo the scrolling of the page's containers that clicks and wheel events cause (the
    graph then draws only the nodes it thinks are in view)."""
    page.evaluate(
        "() => { window.scrollTo(0, 0); for (const e of document.querySelectorAll('*')) "
        "{ if (e.scrollTop || e.scrollLeft) { e.scrollTop = 0; e.scrollLeft = 0; } } }"
    )


def check_group(
    page: Any, base_url: str, group: str, assets: list[str], unpartitioned: set[str], out: Path
) -> None:
    """One group's graph at full detail: each of its assets, no failure, and every unpartitioned
    asset "Materialized" (partitioned ones show how many partitions are filled)."""
    page.goto(f"{base_url}/locations/{LOCATION}/asset-groups/{group}", wait_until="networkidle")
    dismiss_dialogs(page)
    for asset in assets:
        page.get_by_text(asset, exact=True).first.wait_for(timeout=60_000)
    wait_loaded(page)
    page.screenshot(path=str(out))
    text = page_text(page)
    errors = find_errors(text)
    if errors:
        raise CheckFailed(f"group {group} shows {', '.join(map(repr, errors))} (see {out})")
    expected = sum(a in unpartitioned for a in assets)
    shown = len(re.findall(r"^Materialized$", text, flags=re.MULTILINE))
    if shown < expected:
        raise CheckFailed(
            f"group {group}: {shown} of its {expected} unpartitioned assets show "
            f"'Materialized' (see {out})"
        )
    log(f"group {group}: {', '.join(assets)}; no error marker ({out.name})")


def check_lineage(page: Any, base_url: str, out: Path) -> None:
    page.goto(
        f"{base_url}/assets/{LINEAGE_ASSET}?view=lineage&lineageScope=neighbors&lineageDepth=2",
        wait_until="networkidle",
    )
    dismiss_dialogs(page)
    for name in (LINEAGE_ASSET, *LINEAGE_NEIGHBOURS):
        page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
    wait_loaded(page)
    page.screenshot(path=str(out))
    log(f"saved {out}")
    errors = find_errors(page_text(page))
    if errors:
        raise CheckFailed(f"lineage of {LINEAGE_ASSET} shows {', '.join(map(repr, errors))}")
    log(f"lineage of {LINEAGE_ASSET}: {', '.join(LINEAGE_NEIGHBOURS)} around it, no error marker")


def check_code_location(page: Any, base_url: str, out: Path) -> None:
    """Deployment → Code locations: `llmops` is listed as loaded, before anything else."""
    page.goto(f"{base_url}/locations", wait_until="networkidle")
    dismiss_dialogs(page)
    page.get_by_text(LOCATION, exact=True).first.wait_for(timeout=60_000)
    page.get_by_text("Loaded", exact=True).first.wait_for(timeout=60_000)
    page.screenshot(path=str(out))
    errors = find_errors(page_text(page))
    if errors:
        raise CheckFailed(f"code locations page shows {', '.join(map(repr, errors))} (see {out})")
    log(f"code location {LOCATION}: Loaded ({out.name})")


def check_plot(page: Any, base_url: str, out: Path) -> None:
    """PLOT_ASSET's Overview with its Metadata section switched from Table to Plots: each
    numeric metadata entry across the partitions materialized."""
    page.goto(f"{base_url}/assets/{PLOT_ASSET}?view=overview", wait_until="networkidle")
    dismiss_dialogs(page)
    page.get_by_role("button", name="Plots").first.click(timeout=60_000)
    for name in PLOT_METADATA:
        page.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
    page.locator("canvas").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out))
    errors = find_errors(page_text(page))
    if errors:
        raise CheckFailed(f"plots of {PLOT_ASSET} show {', '.join(map(repr, errors))} (see {out})")
    log(f"plots of {PLOT_ASSET}: {', '.join(PLOT_METADATA)} drawn ({out.name})")


def check_in_browser(
    base_url: str,
    groups: dict[str, list[str]],
    unpartitioned: set[str],
    out_dir: Path,
    skip_eval: bool,
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1920, "height": 1400})
        try:
            check_code_location(page, base_url, out_dir / "code-locations.png")
            assets = [asset for group in GROUPS for asset in groups[group]]
            check_asset_graph(page, base_url, assets, out_dir / "asset-graph.png")
            for group in GROUPS:
                shot = out_dir / f"group-{group}.png"
                check_group(page, base_url, group, groups[group], unpartitioned, shot)
            check_lineage(page, base_url, out_dir / f"lineage-{LINEAGE_ASSET}.png")
            if PLOT_ASSET in groups["evaluation"] and not skip_eval:
                check_plot(page, base_url, out_dir / f"plots-{PLOT_ASSET}.png")
        except PlaywrightError as error:
            shot = out_dir / "failure.png"
            page.screenshot(path=str(shot))
            first_line = str(error).splitlines()[0]
            raise CheckFailed(f"{first_line} at {page.url} (screenshot: {shot})") from error
        finally:
            browser.close()


# --- the HTTP service's API docs, offline ----------------------------------------------------


def check_api_docs_offline(env: dict[str, str], out: Path, timeout: float) -> None:
    """`llmops serve`'s /docs in Chromium with every request off this machine refused: Swagger
    UI must render the API from the assets the service itself serves."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = out.parent / "llmops-serve.log"
    with log_path.open("w", encoding="utf-8") as server_log:
        server = subprocess.Popen(
            [str(BIN / "llmops"), "serve", "--port", str(port)],
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    refused: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{base_url}/healthz"):
            if server.poll() is not None or time.monotonic() > deadline:
                raise CheckFailed(f"llmops serve did not start (see {log_path})")
            time.sleep(1)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1400})

            def offline(route: Any) -> None:
                if route.request.url.startswith(base_url):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort("internetdisconnected")

            page.route("**/*", offline)
            try:
                page.goto(f"{base_url}/docs", wait_until="networkidle")
                page.locator(".swagger-ui .info .title").wait_for(timeout=60_000)
                page.get_by_text("/v1/ask", exact=True).first.wait_for(timeout=30_000)
                page.screenshot(path=str(out))
            finally:
                browser.close()
    except PlaywrightError as error:
        raise CheckFailed(f"/docs did not render offline: {str(error).splitlines()[0]}") from error
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    if refused:
        raise CheckFailed(f"/docs asked the network for {', '.join(refused)} (see {out})")
    log(f"API docs render offline: Swagger UI with /v1/ask, no request left 127.0.0.1 ({out.name})")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(".llmops/ui-check"),
        help="LLMOPS_HOME of the checked instance (default .llmops/ui-check; reused if present)",
    )
    parser.add_argument("--port", type=int, default=0, help="webserver port (default: a free one)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=900.0,
        help="seconds to wait for the server, and for each run (default 900)",
    )
    parser.add_argument("--skip-eval", action="store_true", help="do not run the evaluation assets")
    args = parser.parse_args(argv)
    if args.port and not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    if args.port and not port_free("127.0.0.1", args.port):
        parser.error(f"--port {args.port} is already in use")
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if sync_playwright is None:
        parser.error("Playwright is missing: `make install` (the `dev` extra)")
    if not CHROMIUM.exists():
        parser.error(f"{CHROMIUM} is missing: `apt-get install -y chromium` (or `make ui-check`)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    home = args.home.resolve()
    out_dir = home / "reports" / "ui"
    out_dir.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    evalsets_dir = home / "evalsets"
    try:
        evalset = write_small_evalset(evalsets_dir)
    except CheckFailed as error:
        log(f"FAILED: {error}")
        return 1
    log(f"LLMOPS_HOME={home}; eval set of this instance: {evalset} ({len(EVAL_QUESTION_IDS)} q.)")
    env = instance_env(home, evalsets_dir)
    process = start_ui(port, env, out_dir / "llmops-ui.log")
    try:
        dagster = Dagster(base_url)
        dagster.wait_ready(process, args.timeout)
        log(f"code location {LOCATION} loaded after {time.monotonic() - started:.0f} s")
        dagster.stop_automation()
        dagster.wait_idle(args.timeout)
        materialized = materialize(dagster, home, args.skip_eval, args.timeout)
        groups = check_groups(dagster, materialized)
        check_in_browser(base_url, groups, dagster.unpartitioned_assets(), out_dir, args.skip_eval)
        check_api_docs_offline(env, out_dir / "api-docs-offline.png", args.timeout)
    except (CheckFailed, CodeLocationError) as error:
        log(f"FAILED: {error}")
        return 1
    finally:
        stop_ui(process)
    log(f"OK in {time.monotonic() - started:.0f} s; screenshots in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
