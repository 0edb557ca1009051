"""`llmops ui`: the Dagster webserver and daemon on this installation's instance, started quietly.

Why not `dagster dev`: in Dagster 1.13 it prints a supersession notice on every start, and it
streams every run's event log to the terminal. Here the two services Dagster's own deployment
guide runs (`dagster-webserver` and `dagster-daemon run`) write to one log file, and the terminal
shows what a person needs: where the UI is, what is already materialized, what to try.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops.config import Settings
from llmops.errors import InputError

LOCATION = "llmops"
MODULE = "pipelines.definitions"
BIN = Path(sys.executable).parent


class CodeLocationError(Exception):
    """The Dagster code location did not load, or the services did not come up in time."""


@dataclass(frozen=True)
class AssetState:
    """One asset key and when it was last materialized (None: never)."""

    key: str
    materialized_at: datetime | None


class DagsterGraphQL:
    """The GraphQL API of a running Dagster webserver: just what llmops reads and asks of it."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def query(self, text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.base_url}/graphql", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise CodeLocationError(f"Dagster GraphQL error: {payload['errors'][0]['message']}")
        return payload["data"]

    def location_status(self, name: str = LOCATION) -> tuple[str, str | None]:
        """(`LOADING`, `LOADED` or `MISSING`, the load error if it failed) of a code location."""
        data = self.query(
            """{ workspaceOrError { ... on Workspace { locationEntries {
                 name loadStatus locationOrLoadError { __typename
                 ... on PythonError { message } } } } } }"""
        )
        for entry in data["workspaceOrError"].get("locationEntries", []):
            if entry["name"] == name:
                loaded = entry["locationOrLoadError"] or {}
                error = loaded.get("message") if loaded.get("__typename") == "PythonError" else None
                return entry["loadStatus"], error
        return "MISSING", None

    def wait_loaded(self, alive: Any, timeout: float, name: str = LOCATION) -> None:
        """Until code location `name` is loaded; CodeLocationError if it failed or `alive()`
        turns false (a service exited) first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive():
                raise CodeLocationError("a Dagster service exited while the UI was starting")
            try:
                status, error = self.location_status(name)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                status, error = "STARTING", None
            if error:
                first = error.strip().splitlines()[0] if error.strip() else "unknown error"
                raise CodeLocationError(f"code location {name} failed to load: {first}")
            if status == "LOADED":
                return
            time.sleep(1)
        raise CodeLocationError(f"code location {name} did not load within {timeout:.0f} s")


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def workspace_file(settings: Settings) -> Path:
    """A workspace file under DAGSTER_HOME loading `pipelines.definitions` as `llmops`.

    Written rather than taken from the project root so an installed package finds it too.
    """
    path = settings.dagster_home / "workspace.yaml"
    text = (
        "load_from:\n  - python_module:\n"
        f"      module_name: {MODULE}\n      location_name: {LOCATION}\n"
    )
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def service_env(settings: Settings) -> dict[str, str]:
    """The services' environment: this installation's settings as absolute paths, so the
    webserver, the daemon and their runs read the same folders whatever their working folder."""
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(settings.dagster_home),
        LLMOPS_HOME=str(settings.home),
        LLMOPS_DOCS_DIR=str(settings.docs_dir),
        LLMOPS_PROMPTS_DIR=str(settings.prompts_dir),
        LLMOPS_EVALSETS_DIR=str(settings.evalsets_dir),
        LLMOPS_CONTEXTS_DIR=str(settings.contexts_dir),
        LLMOPS_DATABASE_URL=settings.database_url,
        LLMOPS_LANCEDB_URI=settings.lancedb_uri,
        HF_HUB_OFFLINE=env.get("HF_HUB_OFFLINE", "1"),
        TOKENIZERS_PARALLELISM=env.get("TOKENIZERS_PARALLELISM", "false"),
    )
    return env


@contextmanager
def dagster_services(
    settings: Settings, host: str, port: int, log_path: Path
) -> Iterator[list[subprocess.Popen]]:
    """`dagster-webserver` and `dagster-daemon run` on this instance, each the leader of its own
    process group, both writing to log_path; stopped (SIGTERM, then SIGKILL) on exit."""
    settings.prepare_dagster_home()
    workspace = workspace_file(settings)
    env = service_env(settings)
    commands = [
        [str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", host, "-p", str(port)],
        [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"--- llmops ui started {datetime.now(UTC).isoformat(timespec='seconds')}\n")
        log.flush()
        try:
            for command in commands:
                processes.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            yield processes
        finally:
            stop(processes)


def stop(processes: list[subprocess.Popen], grace: float = 20.0) -> None:
    """SIGTERM to each process group (their runs finish their clean-up), then SIGKILL."""
    for process in processes:
        if process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def asset_states(settings: Settings) -> list[AssetState]:
    """Every asset of the definitions and its last materialization in this instance.

    Opening the instance here also creates its storages before the services start: the
    webserver and the daemon would otherwise race to create the same SQLite tables.
    """
    from llmops.entrypoints.instance import dagster_instance
    from pipelines.definitions import defs

    keys = sorted(defs.resolve_asset_graph().get_all_asset_keys(), key=lambda k: k.path)
    with dagster_instance(settings) as instance:
        instance.all_instigator_state()
        states = []
        for key in keys:
            event = instance.get_latest_materialization_event(key)
            when = datetime.fromtimestamp(event.timestamp, UTC) if event else None
            states.append(AssetState(key.to_user_string(), when))
    return states


def welcome(settings: Settings, url: str, states: list[AssetState], log_path: Path) -> str:
    """What a person sees once the UI is up: where, what exists already, what to try."""
    done = [s for s in states if s.materialized_at is not None]
    lines = [f"Dagster UI: {url}  (code location '{LOCATION}' loaded; Ctrl-C stops)"]
    if done:
        latest = max(s.materialized_at for s in done)
        names = ", ".join(s.key for s in done)
        lines.append(
            f"Materialized: {len(done)} of {len(states)} assets, last at "
            f"{latest:%Y-%m-%d %H:%M} UTC: {names}"
        )
    else:
        lines.append(f"Materialized: none of {len(states)} assets yet (run `llmops ingest`)")
    lines += [
        f"Automation is on: a change in {settings.docs_dir} re-indexes it within a minute; "
        "evaluations run nightly.",
        "Try:",
        f"  {url}/asset-groups             the asset graph; select assets and Materialize",
        f"  {url}/assets/chunk_embeddings  lineage and metadata of the vector index",
        "  llmops ask 'How many days of annual leave can I carry over into next year?'",
        f"Logs of the webserver, the daemon and their runs: {log_path}",
    ]
    return "\n".join(lines)


def run_ui(settings: Settings, host: str, port: int, echo: Any, timeout: float = 180.0) -> int:
    """Start the services, print the welcome once the code location loaded, and wait.

    Returns the exit code: 0 after Ctrl-C or SIGTERM, 1 if a service died on its own.
    """
    if not port_free(host, port):
        raise InputError(f"--port: {host}:{port} is already in use; pass another --port")
    log_path = settings.home / "logs" / "dagster-ui.log"
    url = f"http://{host}:{port}"

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    echo(f"Starting the Dagster webserver and daemon on {url} ...")
    states = asset_states(settings)
    # Both handled explicitly: a process started in the background inherits SIGINT ignored.
    previous = {sig: signal.signal(sig, on_term) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with dagster_services(settings, host, port, log_path) as processes:
            try:
                return _serve(settings, url, states, processes, log_path, echo, timeout)
            except KeyboardInterrupt:
                echo("Stopping the Dagster webserver and daemon ...")
                return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(
    settings: Settings,
    url: str,
    states: list[AssetState],
    processes: list[subprocess.Popen],
    log_path: Path,
    echo: Any,
    timeout: float,
) -> int:
    def alive() -> bool:
        return all(p.poll() is None for p in processes)

    try:
        DagsterGraphQL(url).wait_loaded(alive, timeout)
    except CodeLocationError as error:
        raise CodeLocationError(f"{error} (log: {log_path})") from error
    echo(welcome(settings, url, states, log_path))
    while alive():
        time.sleep(1)
    dead = next(p for p in processes if p.poll() is not None)
    echo(
        f"llmops: error: {Path(dead.args[0]).name} exited with code {dead.returncode}; "
        f"see {log_path}"
    )
    return 1
