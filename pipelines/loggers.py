"""The console logger of every llmops job: our own messages, one readable line each.

Dagster's default console logger prefixes every line with the job, the run id, the process and
the step, and prints its own events beside ours. This one prints what the assets say (progress,
"not enough questions", …) as `llmops: STEP: MESSAGE` on stderr, and Dagster's events only at
DEBUG. On a terminal, progress (`… 120/403 (30%)`) rewrites one line instead of adding ten. The
event log, which the UI shows, is unchanged.
"""

from __future__ import annotations

import logging
import re
import sys

import dagster as dg

_PROGRESS = re.compile(r"\b(\d+)/(\d+) \(\d+%\)$")


class _OwnLines(logging.Handler):
    def __init__(self, stream) -> None:
        super().__init__()
        self.stream = stream
        self.open_line = False

    def emit(self, record: logging.LogRecord) -> None:
        meta = record.__dict__.get("dagster_meta") or {}
        event = meta.get("dagster_event")
        if event is not None and record.levelno < logging.WARNING and self.level > logging.DEBUG:
            return
        message = meta.get("orig_message", record.getMessage()) if event is None else record.msg
        step = meta.get("step_key")
        line = f"llmops: {step}: {message}" if step else f"llmops: {message}"
        progress = _PROGRESS.search(str(message))
        unfinished = progress is not None and progress.group(1) != progress.group(2)
        if unfinished and self.stream.isatty():
            self.stream.write(f"\r\033[K{line}")
            self.open_line = True
        else:
            self.stream.write(f"\r\033[K{line}\n" if self.open_line else f"{line}\n")
            self.open_line = False
        self.stream.flush()


@dg.logger(
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="llmops' own messages as `llmops: STEP: MESSAGE` on stderr; Dagster's events "
    "only at DEBUG.",
)
def console(init_context: dg.InitLoggerContext) -> logging.Logger:
    level = logging.getLevelName(init_context.logger_config["log_level"].upper())
    logger = logging.Logger("llmops.run", level)  # one per run, not kept by the logging module
    handler = _OwnLines(sys.stderr)
    handler.setLevel(level)
    logger.addHandler(handler)
    return logger
