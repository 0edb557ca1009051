"""Rebuild the held-out `sqlalchemy` retrieval benchmark: SQLAlchemy's FAQ over its reference.

A second benchmark of questions nobody here wrote, twice the size of Django's. The questions
are the SQLAlchemy 1.4 FAQ's, as its authors wrote them; their gold pages are the documentation
pages each answer links to (links back into the FAQ and into the changelog are left out). The
corpus is the Core, ORM, dialect and tutorial sections and the error, glossary and overview
pages, converted to Markdown like pydocs; the FAQ, the changelog, the example sources, the
index pages and two "Moved!" stubs are not in it. It comes from Debian's
`python-sqlalchemy-doc` package and is never committed; the questions are written to
`evalsets/sqlalchemy.jsonl`, split once with a fixed seed into `dev` and `test` (see
`faq_benchmark.py`, which builds every FAQ benchmark the same way).

    python evalsets/build_sqlalchemy.py [OUT_DIR] [--source HTML_DIR] [--evalset JSONL]

OUT_DIR defaults to `$LLMOPS_HOME/benchmarks/sqlalchemy`. Rerunning rewrites nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_pydocs import ConversionError  # the sibling scripts, imported by path
from faq_benchmark import FaqSite, main

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag


def main_content(soup: BeautifulSoup) -> Tag:
    """The main content of a page of SQLAlchemy's Sphinx theme (`#docs-body`), without the
    tutorial's "previous | next" boxes around it (navigation, not content)."""
    body = soup.find("div", id="docs-body")
    if body is None:
        raise ConversionError("no <div id='docs-body'>")
    for box in body.find_all("div", class_="topic", recursive=False):
        box.decompose()
    return body


# The benchmark's definition: the sections and single pages that form the corpus, and the
# seed of the dev/test split (Django's, fixed before either split was read). Changing any of
# them changes the benchmark.
SITE = FaqSite(
    name="sqlalchemy",
    package="python-sqlalchemy-doc",
    source_dir=Path("/usr/share/doc/python-sqlalchemy-doc/html"),
    corpus_sections=("core", "dialects", "orm", "tutorial"),
    corpus_pages=("errors.html", "glossary.html", "intro.html"),
    stub_pages=("orm/classical.html", "orm/loading.html"),  # "Moved!" and a link, no title
    main_content=main_content,
    id_prefix="sa",
    split_seed=16,
    evalset=Path(__file__).resolve().parent / "sqlalchemy.jsonl",
)

if __name__ == "__main__":
    sys.exit(main(SITE, __doc__.splitlines()[0]))
