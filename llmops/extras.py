"""Optional parts of llmops, each installed by a pip extra (see pyproject.toml).

Code that imports an optional library does so inside `needs_extra(NAME)`, so a missing one
becomes a `MissingExtraError` that names the extra to install: the CLI prints it on one line and
exits 2, and a Dagster run shows it as the step's error, instead of a bare import traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from llmops.errors import LlmopsError


class MissingExtraError(LlmopsError):
    """An optional library is not installed; the message says which extra installs it."""

    def __init__(self, extra: str, module: str | None) -> None:
        self.extra = extra
        missing = f"{module} is not installed" if module else "a library is missing"
        super().__init__(
            f"this needs the '{extra}' extra ({missing}): pip install 'llmops[{extra}]'"
        )


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Turn a `ModuleNotFoundError` raised inside the block into a `MissingExtraError`."""
    try:
        yield
    except ModuleNotFoundError as exc:
        raise MissingExtraError(extra, (exc.name or "").split(".")[0] or None) from exc
