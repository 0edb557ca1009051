"""The project's folders, docs folders written from a dict, and a local install's environment."""

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
CORPUS = PROJECT_ROOT / "corpus"


def write_docs(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def local_install(monkeypatch: pytest.MonkeyPatch, home: Path, **folders: Path) -> None:
    """Point llmops at `home` (SQLite, LanceDB and Dagster under it) and the project's shipped
    corpus, prompts, contexts and eval sets, except the `folders` given (LLMOPS_*_DIR=path)."""
    values = {
        "LLMOPS_HOME": home,
        "LLMOPS_DOCS_DIR": CORPUS,
        "LLMOPS_PROMPTS_DIR": PROJECT_ROOT / "prompts",
        "LLMOPS_CONTEXTS_DIR": PROJECT_ROOT / "contexts",
        "LLMOPS_EVALSETS_DIR": PROJECT_ROOT / "evalsets",
        **folders,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    for name in ("LLMOPS_DATABASE_URL", "LLMOPS_LANCEDB_URI", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
