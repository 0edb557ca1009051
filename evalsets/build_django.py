"""Rebuild the held-out `django` retrieval benchmark: Django's FAQ questions over its reference.

The questions are the Django FAQ's, as Django's authors wrote them; their gold pages are the
documentation pages each answer links to (links back into the FAQ are left out). The corpus is
every page of the Django documentation outside the FAQ and the release notes, converted to
Markdown like pydocs. It comes from Debian's `python-django-doc` package and is never
committed; the questions are written to `evalsets/django.jsonl`, split once with a fixed seed
into `dev` and `test` (see `faq_benchmark.py`, which builds every FAQ benchmark the same way).

    python evalsets/build_django.py [OUT_DIR] [--source HTML_DIR] [--evalset JSONL]

OUT_DIR defaults to `$LLMOPS_HOME/benchmarks/django`. Rerunning rewrites nothing.
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
    """The main content of a page of Django's Sphinx theme (`#yui-main`'s content column)."""
    main = soup.find("div", id="yui-main")
    body = main.find("div", class_="yui-g") if main is not None else None
    if body is None:
        raise ConversionError("no <div id='yui-main'> with a <div class='yui-g'>")
    return body


# The benchmark's definition: the documentation sections whose pages form the corpus, and the
# seed of the dev/test split. Changing either changes the benchmark.
SITE = FaqSite(
    name="django",
    package="python-django-doc",
    source_dir=Path("/usr/share/doc/python-django-doc/html"),
    corpus_sections=("howto", "internals", "intro", "misc", "ref", "topics"),
    main_content=main_content,
    id_prefix="dj",
    split_seed=16,
    evalset=Path(__file__).resolve().parent / "django.jsonl",
)

if __name__ == "__main__":
    sys.exit(main(SITE, __doc__.splitlines()[0]))
