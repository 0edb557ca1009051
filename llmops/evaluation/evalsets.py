"""Golden evaluation sets: JSONL questions with reference answers and the documents that hold them.

A case with empty `gold_sources` is one the knowledge base cannot answer: the right answer is
to say so. Validation names the file, line and field of the first bad row, and checks that every
gold source exists in the docs folder, so a renamed document cannot silently zero a metric.
"""

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmops.errors import InputError
from llmops.jsonl import read_jsonl
from llmops.safepaths import inside

DEFAULT_EVALSET = "handbook.jsonl"


class EvalCase(BaseModel):
    """One question of an eval set (see `evalsets/README.md`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    question: str = Field(min_length=3)
    reference_answer: str = Field(min_length=1)
    gold_sources: tuple[str, ...]
    tags: tuple[str, ...] = ()

    @field_validator("gold_sources")
    @classmethod
    def _relative_paths(cls, sources: tuple[str, ...]) -> tuple[str, ...]:
        for source in sources:
            if source.startswith("/") or ".." in Path(source).parts:
                raise ValueError(f"{source!r} must be a path relative to the docs folder")
        return sources

    @property
    def answerable(self) -> bool:
        return bool(self.gold_sources)


def evalset_path(name: str | Path | None, folder: Path) -> Path:
    """The eval set `name` in `folder` (`LLMOPS_EVALSETS_DIR`; default `handbook.jsonl`): a
    file name, a path under the folder, or an absolute path inside it.

    One that leaves the folder (through `..` or a symlink) is refused, so a run config typed
    into the Dagster UI cannot make a run read, embed or echo any other file.
    """
    return inside(
        folder,
        name or DEFAULT_EVALSET,
        "eval set",
        "eval sets are only read from LLMOPS_EVALSETS_DIR",
    )


def load_evalset(path: Path, docs_dir: Path | None = None) -> list[EvalCase]:
    """The cases of `path`, validated; with `docs_dir`, every gold source must exist there."""
    cases = read_jsonl(path, EvalCase)
    if not cases:
        raise InputError(f"{path}: the eval set has no cases")
    duplicates = [case_id for case_id, n in Counter(c.id for c in cases).items() if n > 1]
    if duplicates:
        raise InputError(f"{path}: duplicate id(s) {', '.join(sorted(duplicates))}")
    if docs_dir is not None:
        for line, case in _lines(path, cases):
            missing = [s for s in case.gold_sources if not (docs_dir / s).is_file()]
            if missing:
                raise InputError(
                    f"{path}:{line}: gold_sources: {', '.join(missing)} not found in {docs_dir}"
                )
    return cases


def _lines(path: Path, cases: list[EvalCase]) -> list[tuple[int, EvalCase]]:
    """Each case with its 1-based line number (blank lines are skipped by the reader)."""
    numbers = [
        n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()
    ]
    return list(zip(numbers, cases, strict=True))
