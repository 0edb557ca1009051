"""Rebuild the held-out `django` retrieval benchmark: Django's FAQ questions over its reference.

The pydocs questions were written here and used to choose the shipped retrieval settings, so
they cannot say how retrieval does on questions nobody here wrote. This benchmark takes its
questions from the Django FAQ, as Django's authors wrote them, and its gold pages from the
documentation pages each FAQ answer links to (links back into the FAQ are left out). The
corpus is every page of the Django documentation outside the FAQ and the release notes,
converted to Markdown like pydocs. It comes from Debian's `python-django-doc` package and the
corpus is never committed; the questions are written to `evalsets/django.jsonl`.

The questions are split once, with a fixed seed, into `dev` (used to choose settings) and
`test` (reported, never tuned on); each question carries its split as a tag, and the manifest
records the seed and both id lists.

    python evalsets/build_django.py [OUT_DIR] [--source HTML_DIR] [--evalset JSONL]

OUT_DIR defaults to `$LLMOPS_HOME/benchmarks/django`. Rerunning rewrites nothing.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_pydocs import (  # the sibling script, imported by path
    ConversionError,
    _blocks,
    _squash,
    _write_if_changed,
    convert_body,
    package_version,
    write_corpus,
)

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

PACKAGE = "python-django-doc"
SOURCE_DIR = Path("/usr/share/doc/python-django-doc/html")
INSTALL_HINT = f"run `make bench-corpus` (or `apt-get install -y {PACKAGE}`)"
EVALSET = Path(__file__).resolve().parent / "django.jsonl"

# The benchmark's definition: the documentation sections whose pages form the corpus, and the
# seed of the dev/test split. Changing either changes the benchmark.
CORPUS_SECTIONS: tuple[str, ...] = ("howto", "internals", "intro", "misc", "ref", "topics")
FAQ_SECTION = "faq"
SPLIT_SEED = 16
SPLITS = ("dev", "test")


@dataclass(frozen=True)
class FaqQuestion:
    """One FAQ question as written, its answer's text, and the corpus pages it links to."""

    faq_page: str  # e.g. faq/admin.html
    question: str
    answer: str
    gold_pages: tuple[str, ...]  # corpus-relative HTML paths, e.g. ref/settings.html


def document_path(html_path: str) -> str:
    """The corpus path of a documentation page: `ref/settings.html` -> `ref/settings.md`."""
    return html_path.removesuffix(".html") + ".md"


def corpus_pages(source_dir: Path) -> list[str]:
    """Every HTML page of the corpus sections, relative to `source_dir`, in a stable order."""
    return sorted(
        p.relative_to(source_dir).as_posix()
        for section in CORPUS_SECTIONS
        for p in (source_dir / section).rglob("*.html")
    )


def _soup(path: Path) -> BeautifulSoup:
    from bs4 import BeautifulSoup

    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _main(soup: BeautifulSoup) -> Tag:
    """The main content of a page of Django's Sphinx theme (`#yui-main`'s content column)."""
    main = soup.find("div", id="yui-main")
    body = main.find("div", class_="yui-g") if main is not None else None
    if body is None:
        raise ConversionError("no <div id='yui-main'> with a <div class='yui-g'>")
    return body


def convert_page(path: Path) -> str:
    return convert_body(_main(_soup(path)))


def _linked_pages(section: Tag, page: str, pages: set[str]) -> tuple[str, ...]:
    """Corpus pages linked from `section`'s own text (not from nested question sections)."""
    linked = []
    for a in section.find_all("a", class_="internal"):
        if a.find_parent("div", class_="section") is not section:
            continue
        href = (a.get("href") or "").partition("#")[0]
        if not href:  # an anchor on the same page
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), href))
        if target in pages and not target.startswith(FAQ_SECTION + "/"):
            linked.append(target)
    return tuple(dict.fromkeys(linked))


def faq_questions(source_dir: Path, pages: set[str]) -> list[FaqQuestion]:
    """Every question (h2/h3 heading) of the FAQ pages, in page order, with the corpus pages
    its answer links to (empty when it links to none)."""
    questions = []
    for path in sorted((source_dir / FAQ_SECTION).glob("*.html")):
        if path.name == "index.html":
            continue
        page = path.relative_to(source_dir).as_posix()
        for heading in _main(_soup(path)).find_all(["h2", "h3"]):
            section = heading.parent
            for link in heading.find_all("a", class_="headerlink"):
                link.decompose()
            question = _squash(heading.get_text(" "))
            body = [b for b in _blocks(section) if not b.startswith("#")]
            questions.append(
                FaqQuestion(page, question, " ".join(body), _linked_pages(section, page, pages))
            )
    return questions


def split_ids(ids: list[str], seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """A fixed-seed half/half split: `dev` gets the first half of a seeded shuffle."""
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    half = (len(shuffled) + 1) // 2
    return {"dev": sorted(shuffled[:half]), "test": sorted(shuffled[half:])}


def evalset_rows(questions: list[FaqQuestion]) -> tuple[list[dict], dict[str, list[str]]]:
    """The eval set lines of the questions that link to the corpus, and the split."""
    kept = [q for q in questions if q.gold_pages]
    ids = [f"dj-{n:03d}" for n in range(1, len(kept) + 1)]
    split = split_ids(ids)
    split_of = {i: name for name, members in split.items() for i in members}
    rows = []
    for case_id, q in zip(ids, kept, strict=True):
        gold = [document_path(p) for p in q.gold_pages]
        tags = [split_of[case_id], q.faq_page.removesuffix(".html")]
        rows.append(
            {
                "id": case_id,
                "question": q.question,
                "reference_answer": q.answer or q.question,
                "gold_sources": gold,
                "tags": tags + (["multi-doc"] if len(gold) > 1 else []),
            }
        )
    return rows, split


def build(out_dir: Path, source_dir: Path = SOURCE_DIR, evalset: Path = EVALSET) -> dict:
    """Convert the corpus pages into `out_dir` and write the FAQ questions to `evalset`."""
    if not (source_dir / FAQ_SECTION / "index.html").is_file():
        raise FileNotFoundError(
            f"{PACKAGE} is not installed ({source_dir / FAQ_SECTION} not found): {INSTALL_HINT}"
        )
    pages = corpus_pages(source_dir)
    markdown: dict[str, str] = {}
    for page in pages:
        try:
            markdown[document_path(page)] = convert_page(source_dir / page)
        except ConversionError as exc:
            raise ConversionError(f"{source_dir / page}: {exc}") from exc
    questions = faq_questions(source_dir, set(pages))
    rows, split = evalset_rows(questions)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    evalset_changed = _write_if_changed(evalset, lines)
    about = {
        "benchmark": "django",
        "package": PACKAGE,
        "version": package_version(PACKAGE),
        "source": str(source_dir),
        "converter": "evalsets/build_django.py (Sphinx HTML -> Markdown)",
        "faq_questions": len(questions),
        "questions_with_gold": len(rows),
        "split_seed": SPLIT_SEED,
        "split": split,
    }
    result = write_corpus(out_dir, markdown, about)
    return {**result, "evalset": str(evalset), "evalset_changed": evalset_changed}


def default_out_dir() -> Path:
    """`$LLMOPS_HOME/benchmarks/django`, the home resolved as llmops resolves it."""
    from llmops.config import Settings

    return Settings.from_env().home / "benchmarks" / "django"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out_dir", nargs="?", type=Path, help="default $LLMOPS_HOME/benchmarks/django"
    )
    parser.add_argument("--source", type=Path, default=SOURCE_DIR, help="the HTML docs folder")
    parser.add_argument("--evalset", type=Path, default=EVALSET, help="the JSONL to write")
    args = parser.parse_args(argv)
    out_dir = (args.out_dir or default_out_dir()).resolve()
    try:
        result = build(out_dir, args.source, args.evalset)
    except (FileNotFoundError, ConversionError) as exc:
        print(f"build_django: {exc}", file=sys.stderr)
        return 2
    dev, test = (len(result["split"][s]) for s in SPLITS)
    print(
        f"{result['documents']} documents in {out_dir} "
        f"({result['changed']} written, {result['removed']} removed; {PACKAGE} "
        f"{result['version']}); {result['questions_with_gold']} of {result['faq_questions']} "
        f"FAQ questions link to them: {dev} dev, {test} test in {result['evalset']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
