"""Text from users and files, made safe to put into the Markdown the Dagster UI renders.

Questions, drift examples, feedback comments and document paths are written by whoever uses
the service or the docs folder. Put into Markdown metadata as they are, `![x](https://host/?q=)`
loads an image from the attacker's host when an operator opens the run (a tracking pixel that
can carry data in its URL), `[click](javascript:...)` becomes a link, and a `|` or a line break
splits a table row into wrong columns or new rows. `md_text` is the one function every such
text goes through: the UI then shows the text exactly as it was written.
"""

import re

_ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
"""CommonMark lets any ASCII punctuation character be backslash-escaped, and an escaped one is
always a literal: no link, image, emphasis, code, HTML, entity or table-cell boundary."""


def md_text(text: object, max_chars: int = 300) -> str:
    """`text` as Markdown that renders as that text on one line, cut at `max_chars`.

    Whitespace runs (line breaks included) become one space, so a table row or a list item
    stays one line; every ASCII punctuation character is backslash-escaped.
    """
    line = " ".join(str(text).split())
    if len(line) > max_chars:
        line = line[: max_chars - 1].rstrip() + "…"
    return _ASCII_PUNCTUATION.sub(r"\\\1", line)
