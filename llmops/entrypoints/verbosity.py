"""How much the `llmops` command says on stderr: quiet by default, more on request.

By default stderr carries only our own messages (errors, warnings that need a person, and our
progress line): no library progress bars ("Loading weights", the GGUF conversion), no Dagster
INFO event lines, no expected-state warnings of LanceDB ("No existing dataset … will be
created"). `-v` shows INFO, `-vv` DEBUG, and `LLMOPS_LOG_LEVEL` sets the same without a flag.
"""

from __future__ import annotations

import logging
import os

from llmops.errors import InputError

LEVELS = {
    "ERROR": logging.ERROR,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
}
LIBRARY_LOGGERS = (
    "dagster",
    "alembic",
    "httpx",
    "lancedb",
    "sentence_transformers",
    "transformers",
    "presidio-analyzer",
)


def log_level(verbose: int, configured: str) -> int:
    """The level the flags ask for (`-v` INFO, `-vv` DEBUG), else LLMOPS_LOG_LEVEL, else
    WARNING."""
    if verbose >= 2:
        return logging.DEBUG
    if verbose == 1:
        return logging.INFO
    name = configured.strip().upper()
    if name not in LEVELS:
        raise InputError(f"LLMOPS_LOG_LEVEL must be one of {', '.join(LEVELS)}, got {configured!r}")
    return LEVELS[name]


def configure(level: int) -> None:
    """Apply `level` to the libraries llmops drives.

    tqdm and LanceDB read their switches from the environment once, when they are imported, so
    this runs before any model or table is touched; the switches are set only where the user
    has not set them.
    """
    if level > logging.INFO:
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("LANCEDB_LOG", "error")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    else:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)


def dagster_level(level: int) -> str:
    """The console log level of in-process Dagster runs: our own INFO lines (progress) unless
    only errors are asked for; Dagster's events too at DEBUG."""
    return logging.getLevelName(
        level if level <= logging.INFO or level >= logging.ERROR else logging.INFO
    )
