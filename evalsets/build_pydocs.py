"""Rebuild the `pydocs` retrieval benchmark corpus: Python 3.11 library pages as Markdown.

The corpus is real documentation no one here wrote, so retrieval strategies (vector, BM25,
hybrid, chunk sizes, heading context) are compared on text we did not tune them for. It comes
from Debian's `python3.11-doc` package (the Sphinx HTML build of the standard-library docs) and
is never committed: this script rebuilds it on any machine that has the package installed.

Each page of `PAGES` is converted from Sphinx HTML to plain Markdown (headings, paragraphs,
lists, code blocks, tables as pipe rows, API signatures with their full dotted names), because
the HTML's inline markup otherwise reaches the index as "json. dumps ( obj , ..." and the
permalink signs end up in every heading. The conversion is deterministic, and files are only
rewritten when their content changes, so rerunning the script is a no-op.

    python evalsets/build_pydocs.py [OUT_DIR] [--source HTML_DIR]

OUT_DIR defaults to `$LLMOPS_HOME/benchmarks/pydocs`. A hidden `.manifest.json` there records
the package, its version and a hash of every page (hidden, so the indexer does not read it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4 import Tag

PACKAGE = "python3.11-doc"
SOURCE_DIR = Path("/usr/share/doc/python3.11/html")
MANIFEST_NAME = ".manifest.json"
INSTALL_HINT = f"run `make bench-corpus` (or `apt-get install -y {PACKAGE}`)"

# The benchmark's definition: pages of library/ in the Python 3.11 docs (without `.html`).
# Changing this list changes the benchmark; gold sources of evalsets/pydocs.jsonl must be here.
PAGES: tuple[str, ...] = (
    "abc",
    "argparse",
    "base64",
    "bisect",
    "collections",
    "concurrent.futures",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "exceptions",
    "fnmatch",
    "fractions",
    "functools",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "io",
    "itertools",
    "json",
    "logging",
    "math",
    "os.path",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shlex",
    "shutil",
    "signal",
    "sqlite3",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "tomllib",
    "traceback",
    "urllib.parse",
    "uuid",
    "venv",
    "warnings",
    "weakref",
    "zipfile",
    "zoneinfo",
)


def document_path(page: str) -> str:
    """The corpus-relative path of a page: what `gold_sources` name and the indexer reports."""
    return f"library/{page}.md"


def document_paths() -> list[str]:
    """Every document the build produces, in a stable order."""
    return [document_path(page) for page in PAGES]


class ConversionError(RuntimeError):
    """A page does not have the Sphinx layout the converter expects."""


_HEADINGS = {f"h{n}" for n in range(1, 7)}
_SKIP_TAGS = {"script", "style", "img", "hr", "form", "nav", "button", "svg"}
_MARKDOWN_LEAD = re.compile(r"^(?:[#>]|[*+-](?:\s|$)|=+\s*$|\d+[.)](?:\s|$)|```|~~~|<)")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _code_span(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _inline(tag: Tag) -> str:
    """The visible text of an inline run, code literals in backticks, whitespace squashed."""
    from bs4 import NavigableString

    parts: list[str] = []
    for child in tag.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # not a comment or doctype
                parts.append(str(child))
        elif child.name in _SKIP_TAGS or "headerlink" in (child.get("class") or []):
            continue
        elif child.name == "code":
            parts.append(_code_span(_squash(child.get_text(" "))))
        elif child.name == "br":
            parts.append(" ")
        else:
            raw = child.get_text()
            lead = " " if raw[:1].isspace() else ""
            trail = " " if raw[-1:].isspace() else ""
            parts.append(f"{lead}{_inline(child)}{trail}")
    return _squash("".join(parts))


def _paragraph(text: str) -> str:
    """A one-line paragraph, escaped so Markdown does not read it as a heading, list or rule."""
    return "\\" + text if _MARKDOWN_LEAD.match(text) else text


def _signature(dt: Tag) -> str:
    """An API signature with its full dotted name: `json.JSONDecoder.decode(s)`, not `decode(s)`."""
    text = _inline_plain(dt)
    name_tag = dt.find(class_="sig-name")
    full = dt.get("id")
    if name_tag is not None and isinstance(full, str) and full.endswith(name_tag.get_text()):
        prename = name_tag.find_previous_sibling()
        if prename is None or "sig-prename" not in (prename.get("class") or []):
            prename = None
        short = (prename.get_text() if prename is not None else "") + name_tag.get_text()
        if short != full and short in text:
            text = text.replace(short, full, 1)
    return text


def _inline_plain(tag: Tag) -> str:
    """Text of a tag with no separator between spans (signatures are spans of one token each)."""
    for link in tag.find_all("a", class_="headerlink"):
        link.decompose()
    return _squash(tag.get_text(""))


def _list_item(marker: str, blocks: list[str]) -> str:
    pad = " " * len(marker)
    text = "\n\n".join(blocks) if blocks else ""
    lines = text.splitlines() or [""]
    rest = [f"{pad}{line}" if line else "" for line in lines[1:]]
    return "\n".join([f"{marker}{lines[0]}", *rest])


def _table(table: Tag) -> list[str]:
    rows: list[str] = []
    for n, tr in enumerate(table.find_all("tr")):
        cells = [_inline(cell).replace("|", "\\|") for cell in tr.find_all(["th", "td"])]
        rows.append("| " + " | ".join(cells) + " |")
        if n == 0 and tr.find("th") is not None:
            rows.append("|" + "|".join(" --- " for _ in cells) + "|")
    return ["\n".join(rows)] if rows else []


def _blocks(tag: Tag) -> list[str]:
    """The Markdown blocks of a container's children, in order."""
    from bs4 import NavigableString

    blocks: list[str] = []
    inline_run: list[str] = []

    def flush() -> None:
        text = _squash(" ".join(inline_run))
        inline_run.clear()
        if text:
            blocks.append(_paragraph(text))

    for child in tag.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString and child.strip():
                inline_run.append(str(child))
            continue
        name = child.name
        classes = child.get("class") or []
        if name in _SKIP_TAGS or "headerlink" in classes:
            continue
        if name in _HEADINGS:
            flush()
            blocks.append("#" * int(name[1]) + " " + _squash(child.get_text(" ")))
        elif name == "p":
            flush()
            text = _inline(child)
            if text:
                blocks.append(_paragraph(text))
        elif name == "pre":
            flush()
            code = child.get_text().strip("\n")
            fence = "````" if "```" in code else "```"
            blocks.append(f"{fence}\n{code}\n{fence}")
        elif name in {"ul", "ol"}:
            flush()
            items = child.find_all("li", recursive=False)
            for n, li in enumerate(items, 1):
                marker = f"{n}. " if name == "ol" else "- "
                blocks.append(_list_item(marker, _blocks(li)))
        elif name == "dl":
            flush()
            blocks += _definitions(child)
        elif name == "table":
            flush()
            blocks += _table(child)
        elif name == "div" and "admonition" in classes:
            flush()
            blocks += _admonition(child)
        elif name in {"div", "section", "blockquote", "aside", "span", "figure", "main"}:
            if name == "span" and not child.find(["p", "div", "pre", "dl", "ul", "ol", "table"]):
                inline_run.append(_inline(child))
                continue
            flush()
            blocks += _blocks(child)
        else:
            inline_run.append(_inline(child))
    flush()
    return blocks


def _admonition(div: Tag) -> list[str]:
    """A note or warning: its title leads its first paragraph ("Note: ...")."""
    title_tag = div.find("p", class_="admonition-title", recursive=False)
    title = _inline(title_tag) if title_tag is not None else ""
    if title_tag is not None:
        title_tag.decompose()
    blocks = _blocks(div)
    if not title:
        return blocks
    if blocks and not blocks[0].startswith(("```", "- ", "|", "#")):
        return [f"{title}: {blocks[0].lstrip(chr(92))}", *blocks[1:]]
    return [f"{title}:", *blocks]


def _definitions(dl: Tag) -> list[str]:
    """A definition list: API entries get their signature in backticks, then their body."""
    is_api = "py" in (dl.get("class") or [])
    blocks: list[str] = []
    for child in dl.find_all(["dt", "dd"], recursive=False):
        if child.name == "dt":
            if is_api:
                blocks.append(_code_span(_signature(child)))
            else:
                text = _inline(child)
                if text:
                    blocks.append(_paragraph(text))
        else:
            blocks += _blocks(child)
    return blocks


def convert_page(html: str) -> str:
    """Markdown of the main content of one Sphinx HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    body = soup.find("div", class_="body", role="main")
    if body is None:
        raise ConversionError("no <div class='body' role='main'>")
    return convert_body(body)


def convert_body(body: Tag) -> str:
    """Markdown of a page's main content element (it must start with the page title)."""
    for tag in body.find_all(["a"], class_="headerlink"):
        tag.decompose()
    blocks = _blocks(body)
    if not blocks or not blocks[0].startswith("# "):
        raise ConversionError("the page does not start with a title")
    return "\n\n".join(blocks) + "\n"


def package_version(package: str = PACKAGE) -> str:
    """The installed Debian version of `package`, or "unknown" off Debian."""
    try:
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else "unknown"


def _write_if_changed(path: Path, text: str) -> bool:
    """Write `text` unless the file already holds it; True when the file changed."""
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True


def build(out_dir: Path, source_dir: Path = SOURCE_DIR) -> dict[str, object]:
    """Convert every page of `PAGES` into `out_dir`; remove Markdown files no longer listed."""
    library = source_dir / "library"
    missing = [p for p in PAGES if not (library / f"{p}.html").is_file()]
    if not library.is_dir() or missing:
        what = f"{library} not found" if not library.is_dir() else f"missing {missing[0]}.html"
        raise FileNotFoundError(f"{PACKAGE} is not installed ({what}): {INSTALL_HINT}")
    markdown: dict[str, str] = {}
    for page in PAGES:
        html = (library / f"{page}.html").read_text(encoding="utf-8")
        try:
            markdown[document_path(page)] = convert_page(html)
        except ConversionError as exc:
            raise ConversionError(f"{library / page}.html: {exc}") from exc
    about = {
        "benchmark": "pydocs",
        "package": PACKAGE,
        "version": package_version(),
        "source": str(source_dir),
        "converter": "evalsets/build_pydocs.py (Sphinx HTML -> Markdown)",
    }
    return write_corpus(out_dir, markdown, about)


def write_corpus(out_dir: Path, markdown: dict[str, str], about: dict[str, object]) -> dict:
    """Write every `{path: text}` page under `out_dir` (only files whose content changed), remove
    Markdown files no longer listed, and record `about` with a hash of every page in the
    hidden manifest."""
    pages: dict[str, str] = {}
    changed = 0
    for path, text in markdown.items():
        changed += _write_if_changed(out_dir / path, text)
        pages[path] = hashlib.sha256(text.encode()).hexdigest()
    wanted = {out_dir / path for path in pages}
    removed = 0
    for stale in sorted(out_dir.rglob("*.md")):
        if stale not in wanted:
            stale.unlink()
            removed += 1
    manifest = {**about, "documents": pages}
    _write_if_changed(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    return {**manifest, "documents": len(pages), "changed": changed, "removed": removed}


def default_out_dir() -> Path:
    """`$LLMOPS_HOME/benchmarks/pydocs`, the home resolved as llmops resolves it."""
    from llmops.config import Settings

    return Settings.from_env().home / "benchmarks" / "pydocs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "out_dir", nargs="?", type=Path, help="default $LLMOPS_HOME/benchmarks/pydocs"
    )
    parser.add_argument("--source", type=Path, default=SOURCE_DIR, help="the HTML docs folder")
    args = parser.parse_args(argv)
    out_dir = (args.out_dir or default_out_dir()).resolve()
    try:
        result = build(out_dir, args.source)
    except (FileNotFoundError, ConversionError) as exc:
        print(f"build_pydocs: {exc}", file=sys.stderr)
        return 2
    print(
        f"{result['documents']} documents in {out_dir} "
        f"({result['changed']} written, {result['removed']} removed; "
        f"{PACKAGE} {result['version']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
