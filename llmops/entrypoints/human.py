"""What the CLI prints for a person (the JSON of `--json` is in `payloads`): passages as whole
words with their source and heading, and one answer's lineage."""

from __future__ import annotations

import re
import textwrap
from typing import Any

SNIPPET_CHARS = 300
WIDTH = 100
_MARKUP = re.compile(r"\*\*|__|`|^#+\s*", flags=re.MULTILINE)


def plain(text: str) -> str:
    """Markdown emphasis, code ticks and heading marks removed; white space folded."""
    return " ".join(_MARKUP.sub("", text).split())


def snippet(text: str, chars: int = SNIPPET_CHARS, indent: str = "   ") -> str:
    """The start of `text` cut at a word boundary with an ellipsis, wrapped and indented."""
    short = textwrap.shorten(plain(text), chars, placeholder=" …")
    return textwrap.fill(short, WIDTH, initial_indent=indent, subsequent_indent=indent)


def search_text(results: list[dict[str, Any]], context: str | None = None) -> str:
    """`llmops search`: each hit's rank, score, source and heading, then its snippet, and the
    context configuration that retrieved them."""
    footer = f"context {context or 'built-in defaults'}"
    if not results:
        return f"no results\n{footer}"
    blocks = []
    for rank, hit in enumerate(results, start=1):
        heading = f" — {plain(hit['heading'])}" if hit.get("heading") else ""
        blocks.append(
            f"{rank}. [{hit['score']:.3f}] {hit['source']}{heading}\n{snippet(hit['text'])}"
        )
    return "\n".join([*blocks, footer])


def audit_text(lineage: dict, headings: dict[str, str], result=None) -> str:
    """`llmops audit` for a person: what was asked and answered, from which passages, with
    which versions, and the re-run's verdict when there is one."""
    sources = [
        f"  {i}. [{c['score']:.3f}] {c['source']}"
        + (f" — {headings[c['chunk_id']]}" if headings.get(c["chunk_id"]) else "")
        for i, c in enumerate(lineage["citations"], start=1)
    ]
    answer = textwrap.indent(lineage["answer"] or "(empty)", "  ")
    lines = [
        f"query {lineage['query_id']} · {lineage['created_at'][:19]} · {lineage['status']}"
        + (" · answer cut at the token limit" if lineage.get("truncated") else ""),
        f"question:\n  {lineage['question']}",
        f"answer:\n{answer}",
        "sources:" if sources else "sources: none",
        *sources,
        f"versions: prompt {lineage['prompt']} · context {lineage['context'] or 'default'} · "
        f"index {lineage['table']} v{lineage['index_version']} · {lineage['embedding_model']} "
        f"· {lineage['chat_model']}",
    ]
    if result is None:
        lines.append("re-run: not done (add --rerun to reproduce it against these versions)")
    else:
        lines.append(
            f"re-run: same chunks: {'yes' if result.same_chunks else 'NO'} · "
            f"same answer: {'yes' if result.same_answer else 'NO'}"
        )
        if result.answer_diff:
            lines.append(result.answer_diff)
    return "\n".join(lines)
