"""The layer contracts of pyproject.toml hold, and a bad import breaks them.

`lint-imports` runs on a copy of the packages, first as they are, then with one import that a
contract forbids written into the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("llmops", "resources", "assets", "pipelines")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the packages under `root` (found before the installed ones)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_packages_keep_every_contract(copy: Path) -> None:
    result = lint_imports(copy)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("llmops/knowledge/chunking.py", "import dagster", "Domain code imports no Dagster"),
        ("llmops/monitoring/drift.py", "import assets.drift", "Domain code imports no Dagster"),
        ("resources/embedder.py", "import pipelines.jobs", "Resources import no assets"),
        ("assets/corpus.py", "import llmops.entrypoints.clients", "Assets import no pipelines"),
        ("llmops/retrieval/metrics.py", "import llmops.answering.rag", "No import cycles"),
        ("llmops/evaluation/judge.py", "import llmops.evaluation.scoring", "No import cycles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    copy: Path, module: str, bad_import: str, contract: str
) -> None:
    path = copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{bad_import}  # noqa\n", "utf-8")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
