"""The pydocs retrieval benchmark's questions are well formed and point at pages the corpus has.

Runs without the `python3.11-doc` package: gold sources are checked against the page list of
`evalsets/build_pydocs.py` (the benchmark's definition), not against a built corpus.
"""

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

from llmops.evaluation.evalsets import EvalCase, load_evalset

EVALSETS = Path(__file__).resolve().parent.parent / "evalsets"
KINDS = {"paraphrase", "identifier", "indirect"}


def _build_script() -> ModuleType:
    """`evalsets/build_pydocs.py`, imported by path (evalsets/ is data, not a package)."""
    spec = importlib.util.spec_from_file_location("build_pydocs", EVALSETS / "build_pydocs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases() -> list[EvalCase]:
    return load_evalset(EVALSETS / "pydocs.jsonl")


def test_enough_unique_questions() -> None:
    cases = _cases()
    assert len(cases) >= 80
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.question.strip().lower() for c in cases}) == len(cases)
    assert all(c.id.startswith("py-") for c in cases)


def test_every_gold_source_is_a_page_of_the_corpus() -> None:
    pages = set(_build_script().document_paths())
    for case in _cases():
        assert case.gold_sources, f"{case.id} has no gold source"
        unknown = set(case.gold_sources) - pages
        assert not unknown, f"{case.id}: {sorted(unknown)} are not built by build_pydocs.py"


def test_question_mix() -> None:
    """Each question has exactly one kind; exact-identifier questions are where hybrid shows."""
    kinds = Counter()
    for case in _cases():
        tagged = KINDS.intersection(case.tags)
        assert len(tagged) == 1, f"{case.id}: needs exactly one of {sorted(KINDS)}"
        kinds.update(tagged)
    assert kinds["identifier"] >= 25
    assert kinds["paraphrase"] >= 25
    assert kinds["indirect"] >= 15


def test_page_paths_are_stable() -> None:
    build = _build_script()
    assert len(build.PAGES) == len(set(build.PAGES))
    assert build.document_path("os.path") == "library/os.path.md"
