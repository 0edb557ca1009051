"""The held-out Django benchmark's questions are well formed, split once, and point at pages.

Runs without the `python-django-doc` package: the committed `evalsets/django.jsonl` is checked
against the schema and against the split rule of `evalsets/build_django.py`.
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from llmops.evalsets import load_evalset

EVALSETS = Path(__file__).resolve().parent.parent / "evalsets"


def _build_script() -> ModuleType:
    """`evalsets/build_django.py`, imported by path (evalsets/ is data, not a package)."""
    spec = importlib.util.spec_from_file_location("build_django", EVALSETS / "build_django.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("build_django", module)
    spec.loader.exec_module(module)
    return module


def test_questions_are_unique_with_gold_pages_outside_the_faq() -> None:
    cases = load_evalset(EVALSETS / "django.jsonl")
    assert len(cases) >= 25
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.question for c in cases}) == len(cases)
    build = _build_script()
    for case in cases:
        assert case.gold_sources, case.id
        for source in case.gold_sources:
            section = source.split("/")[0]
            assert section in build.CORPUS_SECTIONS, f"{case.id}: {source}"
            assert source.endswith(".md")


def test_every_question_is_in_exactly_one_split_of_the_seeded_halves() -> None:
    cases = load_evalset(EVALSETS / "django.jsonl")
    build = _build_script()
    tagged = {name: sorted(c.id for c in cases if name in c.tags) for name in build.SPLITS}
    assert sum(len(ids) for ids in tagged.values()) == len(cases)
    assert tagged == build.split_ids([c.id for c in cases])
    assert abs(len(tagged["dev"]) - len(tagged["test"])) <= 1


def test_split_is_fixed_by_the_seed() -> None:
    build = _build_script()
    ids = [f"q{n}" for n in range(40)]
    assert build.split_ids(ids) == build.split_ids(list(reversed(ids)))
    assert build.split_ids(ids) != build.split_ids(ids, seed=build.SPLIT_SEED + 1)


def test_document_paths() -> None:
    build = _build_script()
    assert build.document_path("ref/contrib/admin/index.html") == "ref/contrib/admin/index.md"
