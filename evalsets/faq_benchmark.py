"""Held-out retrieval benchmarks built from a documentation package's own FAQ.

The pydocs questions were written here and used to choose the shipped retrieval settings, so
they cannot say how retrieval does on questions nobody here wrote. A project's FAQ can: its
authors wrote the questions, and each answer links to the reference pages that explain it.
This module turns such a FAQ into a benchmark, the same way for every package (`build_django.py`,
`build_sqlalchemy.py` describe one `FaqSite` each):

- the corpus is every page of the site's documentation sections (never the FAQ itself, nor
  release notes), converted to Markdown by the pydocs converter;
- each question is one FAQ heading (h2 or h3) as written; its gold pages are the corpus pages
  its own answer links to (not the links of a nested question), so links back into the FAQ or
  to pages outside the corpus are left out, and a question that links to none is dropped;
- the questions are split once, with the site's fixed seed, into `dev` (used to choose
  settings) and `test` (reported, never tuned on); each question carries its split as a tag,
  and the corpus manifest records the seed and both id lists.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import random
import sys
from collections.abc import Callable
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

SPLITS = ("dev", "test")
FAQ_HEADINGS = ("h2", "h3")


@dataclass(frozen=True)
class FaqSite:
    """One documentation package whose FAQ becomes a benchmark. Changing any field but
    `source_dir` and `evalset` changes the benchmark."""

    name: str  # the benchmark, e.g. `django`; also the corpus folder under benchmarks/
    package: str  # the Debian package that ships the Sphinx HTML
    source_dir: Path
    corpus_sections: tuple[str, ...]  # folders whose pages form the corpus
    main_content: Callable[[BeautifulSoup], Tag]  # a page's main content, title first
    id_prefix: str  # question ids are `<prefix>-001`, ...
    split_seed: int
    evalset: Path
    corpus_pages: tuple[str, ...] = ()  # single pages outside those folders, e.g. glossary.html
    stub_pages: tuple[str, ...] = ()  # pages of those folders with no content ("Moved!" stubs)
    faq_section: str = "faq"

    @property
    def install_hint(self) -> str:
        return f"run `make bench-corpus` (or `apt-get install -y {self.package}`)"


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


def corpus_pages(site: FaqSite, source_dir: Path) -> list[str]:
    """Every HTML page of the site's corpus, relative to `source_dir`, in a stable order."""
    in_sections = (
        p.relative_to(source_dir).as_posix()
        for section in site.corpus_sections
        for p in (source_dir / section).rglob("*.html")
    )
    single = (page for page in site.corpus_pages if (source_dir / page).is_file())
    return sorted({*in_sections, *single} - set(site.stub_pages))


def soup_of(path: Path) -> BeautifulSoup:
    from bs4 import BeautifulSoup

    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def linked_pages(section: Tag, page: str, pages: set[str], questions: set[int]) -> tuple[str, ...]:
    """Corpus pages linked from `section`'s own text: links inside a nested question (another
    section of `questions`, by id) belong to that question, same-page anchors to none."""
    linked = []
    for a in section.find_all("a", class_="internal"):
        if next(p for p in a.parents if id(p) in questions) is not section:
            continue
        href = (a.get("href") or "").partition("#")[0]
        if not href:
            continue
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page), href))
        if target in pages:
            linked.append(target)
    return tuple(dict.fromkeys(linked))


def faq_questions(site: FaqSite, source_dir: Path, pages: set[str]) -> list[FaqQuestion]:
    """Every question (h2/h3 heading) of the FAQ pages, in page order, with the corpus pages
    its answer links to (empty when it links to none)."""
    found = []
    for path in sorted((source_dir / site.faq_section).glob("*.html")):
        if path.name == "index.html":
            continue
        page = path.relative_to(source_dir).as_posix()
        headings = site.main_content(soup_of(path)).find_all(list(FAQ_HEADINGS))
        sections = {id(h.parent) for h in headings}
        for heading in headings:
            section = heading.parent
            for link in heading.find_all("a", class_="headerlink"):
                link.decompose()
            question = _squash(heading.get_text(" "))
            body = [b for b in _blocks(section) if not b.startswith("#")]
            gold = linked_pages(section, page, pages, sections)
            found.append(FaqQuestion(page, question, " ".join(body), gold))
    return found


def split_ids(ids: list[str], seed: int) -> dict[str, list[str]]:
    """A fixed-seed half/half split: `dev` gets the first half of a seeded shuffle."""
    shuffled = sorted(ids)
    random.Random(seed).shuffle(shuffled)
    half = (len(shuffled) + 1) // 2
    return {"dev": sorted(shuffled[:half]), "test": sorted(shuffled[half:])}


def evalset_rows(
    site: FaqSite, questions: list[FaqQuestion]
) -> tuple[list[dict], dict[str, list[str]]]:
    """The eval set lines of the questions that link to the corpus, and the split."""
    kept = [q for q in questions if q.gold_pages]
    ids = [f"{site.id_prefix}-{n:03d}" for n in range(1, len(kept) + 1)]
    split = split_ids(ids, site.split_seed)
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


def build(
    site: FaqSite, out_dir: Path, source_dir: Path | None = None, evalset: Path | None = None
) -> dict:
    """Convert the corpus pages into `out_dir` and write the FAQ questions to the eval set."""
    source_dir = source_dir or site.source_dir
    evalset = evalset or site.evalset
    faq_index = source_dir / site.faq_section / "index.html"
    if not faq_index.is_file():
        raise FileNotFoundError(
            f"{site.package} is not installed ({faq_index.parent} not found): {site.install_hint}"
        )
    pages = corpus_pages(site, source_dir)
    markdown: dict[str, str] = {}
    for page in pages:
        try:
            markdown[document_path(page)] = convert_body(
                site.main_content(soup_of(source_dir / page))
            )
        except ConversionError as exc:
            raise ConversionError(f"{source_dir / page}: {exc}") from exc
    questions = faq_questions(site, source_dir, set(pages))
    rows, split = evalset_rows(site, questions)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    evalset_changed = _write_if_changed(evalset, lines)
    about = {
        "benchmark": site.name,
        "package": site.package,
        "version": package_version(site.package),
        "source": str(source_dir),
        "converter": f"evalsets/build_{site.name}.py (Sphinx HTML -> Markdown)",
        "faq_questions": len(questions),
        "questions_with_gold": len(rows),
        "split_seed": site.split_seed,
        "split": split,
    }
    result = write_corpus(out_dir, markdown, about)
    return {**result, "evalset": str(evalset), "evalset_changed": evalset_changed}


def main(site: FaqSite, description: str, argv: list[str] | None = None) -> int:
    """The command line of a site's build script: build, print one line, exit 2 on a missing
    package or a page the converter cannot read."""
    parser = argparse.ArgumentParser(description=description)
    default_out = f"$LLMOPS_HOME/benchmarks/{site.name}"
    parser.add_argument("out_dir", nargs="?", type=Path, help=f"default {default_out}")
    parser.add_argument("--source", type=Path, default=site.source_dir, help="the HTML docs folder")
    parser.add_argument("--evalset", type=Path, default=site.evalset, help="the JSONL to write")
    args = parser.parse_args(argv)
    if args.out_dir is None:
        from llmops.config import Settings

        args.out_dir = Settings.from_env().home / "benchmarks" / site.name
    out_dir = args.out_dir.resolve()
    try:
        result = build(site, out_dir, args.source, args.evalset)
    except (FileNotFoundError, ConversionError) as exc:
        print(f"build_{site.name}: {exc}", file=sys.stderr)
        return 2
    dev, test = (len(result["split"][s]) for s in SPLITS)
    print(
        f"{result['documents']} documents in {out_dir} "
        f"({result['changed']} written, {result['removed']} removed; {site.package} "
        f"{result['version']}); {result['questions_with_gold']} of {result['faq_questions']} "
        f"FAQ questions link to them: {dev} dev, {test} test in {result['evalset']}"
    )
    return 0
