"""Turn a document's text into blocks of visible content, each under its heading trail.

Markdown and plain text are parsed with markdown-it (plain text only recognises underlined
"setext" headings, so a line starting with `#` stays text); each block's text is the source
lines markdown-it maps it to, so lists, tables and code keep their shape. HTML is parsed with
BeautifulSoup; only the main content is kept, never scripts, styles, navigation or footers.
"""

from __future__ import annotations

from dataclasses import dataclass

from bs4 import BeautifulSoup, Tag
from markdown_it import MarkdownIt


@dataclass(frozen=True)
class Block:
    """A paragraph-sized piece of visible text and the headings it sits under (outermost first)."""

    headings: tuple[str, ...]
    text: str


class _HeadingTrail:
    def __init__(self) -> None:
        self._levels: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        self._levels = [(lv, t) for lv, t in self._levels if lv < level] + [(level, title)]

    @property
    def trail(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._levels)


# Only block structure is needed (block text is sliced from the source), so inline parsing,
# half of markdown-it's time, is switched off.
_MARKDOWN = MarkdownIt("commonmark").disable(["inline", "text_join"])
_PLAIN_TEXT = MarkdownIt("commonmark").disable(
    ["inline", "text_join", "heading", "code", "html_block"]
)


def _blocks_from_markdown(text: str, parser: MarkdownIt) -> list[Block]:
    lines = text.splitlines()
    tokens = parser.parse(text)
    trail = _HeadingTrail()
    blocks: list[Block] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            trail.enter(int(token.tag[1]), tokens[i + 1].content.strip())
            i += 3
            continue
        is_list = token.type in {"bullet_list_open", "ordered_list_open"}
        is_item = token.type == "list_item_open" and token.level == 1
        if token.map and (
            (token.level == 0 and token.nesting in (0, 1) and not is_list) or is_item
        ):
            start, end = token.map
            body = "\n".join(lines[start:end]).strip()
            if body:
                blocks.append(Block(trail.trail, body))
        i += 1
    return blocks


_BOILERPLATE_TAGS = [
    "script", "style", "noscript", "template", "nav", "footer", "aside",
    "form", "button", "iframe", "svg", "canvas", "head",
]  # fmt: skip
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog"}
_HEADING_TAGS = {f"h{n}" for n in range(1, 7)}
_BLOCK_TAGS = {"p", "li", "pre", "blockquote", "tr", "dt", "dd", "caption", "figcaption"}


def _is_cookie_banner(tag: Tag) -> bool:
    names = " ".join([tag.get("id") or "", *(tag.get("class") or [])]).lower()
    return "cookie" in names or "consent" in names


def _block_text(tag: Tag) -> str:
    if tag.name == "tr":
        return " | ".join(c.get_text(" ", strip=True) for c in tag.find_all(["th", "td"]))
    if tag.name == "pre":
        return tag.get_text().strip("\n")
    text = " ".join(tag.get_text(" ", strip=True).split())
    return f"- {text}" if tag.name == "li" and text else text


def _blocks_from_html(html: str) -> list[Block]:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(_BOILERPLATE_TAGS):
        tag.decompose()
    for tag in soup.find_all("header"):
        if not tag.find_parent(["main", "article"]):  # a page banner, not an article's title
            tag.decompose()
    for tag in soup.find_all(True):
        if not tag.decomposed and (tag.get("role") in _BOILERPLATE_ROLES or _is_cookie_banner(tag)):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    trail = _HeadingTrail()
    blocks: list[Block] = []
    wanted = _HEADING_TAGS | _BLOCK_TAGS | {"div", "section"}
    for tag in root.find_all(wanted):
        if tag.name in _HEADING_TAGS:
            title = " ".join(tag.get_text(" ", strip=True).split())
            if title:
                trail.enter(int(tag.name[1]), title)
            continue
        if tag.find_parent(_BLOCK_TAGS | _HEADING_TAGS):
            continue
        if tag.name in {"div", "section"}:
            own = " ".join(s.strip() for s in tag.find_all(string=True, recursive=False))
            text = " ".join(own.split())
        else:
            text = _block_text(tag)
        if text:
            blocks.append(Block(trail.trail, text))
    return blocks


def extract_blocks(text: str, doc_type: str) -> list[Block]:
    """Visible content blocks of a document of type `markdown`, `text` or `html`."""
    if doc_type == "html":
        return _blocks_from_html(text)
    if doc_type == "markdown":
        return _blocks_from_markdown(text, _MARKDOWN)
    if doc_type == "text":
        return _blocks_from_markdown(text, _PLAIN_TEXT)
    raise ValueError(f"unknown document type {doc_type!r}")
