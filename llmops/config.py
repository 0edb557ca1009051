"""Where llmops keeps its state and finds its inputs, read from the environment (the
`LLMOPS_*` variables of the README's "Configuration" table)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Paths and URLs of one llmops installation; every field has a working local default."""

    home: Path
    docs_dir: Path
    prompts_dir: Path
    evalsets_dir: Path
    database_url: str
    lancedb_uri: str
    contexts_dir: Path = Path("contexts")
    proposals_dir: Path | None = None
    """`LLMOPS_CANDIDATES_DIR`: where proposed eval cases go, if not `candidates/` of the eval
    sets (a container writes them to its volume; the eval sets in the image are read-only)."""
    log_level: str = "WARNING"
    eval_cron: str = "0 2 * * *"
    monitoring_cron: str = "0 3 * * *"

    @property
    def default_evalset(self) -> Path:
        return self.evalsets_dir / "handbook.jsonl"

    @property
    def candidates_dir(self) -> Path:
        """Eval cases proposed from thumbs-down feedback, waiting for a person."""
        return self.proposals_dir or self.evalsets_dir / "candidates"

    @property
    def reports_dir(self) -> Path:
        """HTML and JSON reports (drift), one folder per kind."""
        return self.home / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @classmethod
    def from_env(cls) -> Settings:
        home = Path(os.environ.get("LLMOPS_HOME") or ".llmops").resolve()
        return cls(
            home=home,
            docs_dir=Path(os.environ.get("LLMOPS_DOCS_DIR") or "corpus").resolve(),
            prompts_dir=Path(os.environ.get("LLMOPS_PROMPTS_DIR") or "prompts").resolve(),
            evalsets_dir=Path(os.environ.get("LLMOPS_EVALSETS_DIR") or "evalsets").resolve(),
            database_url=os.environ.get("LLMOPS_DATABASE_URL") or f"sqlite:///{home / 'llmops.db'}",
            lancedb_uri=os.environ.get("LLMOPS_LANCEDB_URI") or str(home / "lancedb"),
            contexts_dir=Path(os.environ.get("LLMOPS_CONTEXTS_DIR") or "contexts").resolve(),
            proposals_dir=_optional_path("LLMOPS_CANDIDATES_DIR"),
            log_level=os.environ.get("LLMOPS_LOG_LEVEL") or "WARNING",
            eval_cron=cron_env("LLMOPS_EVAL_CRON", "0 2 * * *"),
            monitoring_cron=cron_env("LLMOPS_MONITORING_CRON", "0 3 * * *"),
        )

    def prepare_dagster_home(self) -> Path:
        """Point DAGSTER_HOME at `$LLMOPS_HOME/dagster`, holding the instance file.

        The file is `pipelines/dagster.yaml` (SQLite under LLMOPS_HOME), or the one named by
        `LLMOPS_DAGSTER_YAML`, e.g. `deploy/dagster.yaml` for PostgreSQL instance storage.
        """
        target = self.dagster_home / "dagster.yaml"
        source = dagster_yaml()
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
        os.environ["DAGSTER_HOME"] = str(self.dagster_home)
        return self.dagster_home


def _optional_path(name: str) -> Path | None:
    raw = os.environ.get(name, "").strip()
    return Path(raw).resolve() if raw else None


def dagster_yaml() -> Path:
    """The Dagster instance file llmops runs with: `LLMOPS_DAGSTER_YAML` or
    `pipelines/dagster.yaml`.

    It lives in the package, not the project root: `dagster` warns about a `dagster.yaml` in
    the current folder that DAGSTER_HOME does not point at.
    """
    raw = os.environ.get("LLMOPS_DAGSTER_YAML", "").strip()
    if not raw:
        return PROJECT_ROOT / "pipelines" / "dagster.yaml"
    path = Path(raw).resolve()
    if not path.is_file():
        raise InputError(f"LLMOPS_DAGSTER_YAML: {path} does not exist or is not a file")
    return path


def positive_int_env(name: str, default: int) -> int:
    """The whole number ≥ 1 in environment variable `name`, or `default` when it is unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise InputError(f"{name} must be a positive whole number, got {raw!r}")
    return int(raw)


def cron_env(name: str, default: str) -> str:
    """The five-field cron expression (UTC) in environment variable `name`, or `default`."""
    raw = " ".join(os.environ.get(name, "").split())
    if not raw:
        return default
    if len(raw.split(" ")) != 5:
        raise InputError(f"{name} must be a cron expression of five fields, got {raw!r}")
    return raw
