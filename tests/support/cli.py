"""The `llmops` command as the tests run it: in this process by default, as a real process where
the process itself is what a test checks.

`llmops(...)` calls `llmops.entrypoints.cli.main` in the test process with the environment a
user's shell would give it, and returns what a finished process returns (`returncode`, `stdout`,
`stderr`). It saves a Python start-up and the imports and model loads of every call (the
embedding model stays loaded between calls), and it leaves the process as it found it: the
environment, `sys.argv`, the logging handlers and levels the CLI configures. Besides Python's
`sys.stdout` and `sys.stderr` it captures file descriptors 1 and 2, where LanceDB's Rust code
writes, and it prints warnings on stderr under Python's default filters, as a process would.

`llmops_process(...)` runs `python -m llmops.entrypoints.cli` instead. Use it where the test is
about the process: its start-up, its exit status, signals, or that its stderr stays quiet once
the libraries are loaded. That last one only a real process shows: LanceDB reads `LANCEDB_LOG`,
and tqdm and transformers their switches, once at import (here, before the CLI set them), and
a model loads, and a module warns on import, once per process.
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

# The fields of `llmops ask --json` the README's "Command line" table lists (and the service's
# /ask response has).
ASK_FIELDS = {
    "query_id",
    "answer",
    "citations",
    "prompt_version",
    "index_version",
    "usage",
    "guardrails",
}


def _environment(home: Path, docs: Path | None) -> dict[str, str]:
    """The environment of one call: this process's, with the home (and docs) of the test and no
    DAGSTER_HOME, so the CLI puts its instance under the home."""
    env = {**os.environ, "LLMOPS_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    if docs is not None:
        env["LLMOPS_DOCS_DIR"] = str(docs)
    return env


def llmops_process(*args: str, home: Path, docs: Path | None = None) -> subprocess.CompletedProcess:
    """`llmops ARGS` as a new Python process."""
    return subprocess.run(
        [sys.executable, "-m", "llmops.entrypoints.cli", *args],
        capture_output=True,
        text=True,
        env=_environment(home, docs),
        timeout=300,
    )


def llmops(*args: str, home: Path, docs: Path | None = None) -> subprocess.CompletedProcess:
    """`llmops ARGS` run in this process; the result reads like a finished process's."""
    from llmops.entrypoints.cli import main

    env = _environment(home, docs)
    saved_env, saved_argv = dict(os.environ), sys.argv
    logs = _LoggingState()
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["llmops", *args]
        with (
            _native(1) as native_out,
            _native(2) as native_err,
            redirect_stdout(out),
            redirect_stderr(err),
            _warnings_as_a_process_shows_them(),
        ):
            code = _run(main, list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        sys.argv = saved_argv
        logs.restore()
    stdout, stderr = out.getvalue() + native_out.text, err.getvalue() + native_err.text
    return subprocess.CompletedProcess(["llmops", *args], code, stdout, stderr)


@contextmanager
def _warnings_as_a_process_shows_them() -> Iterator[None]:
    """Python's default warning filters, with warnings printed on stderr, as in a process of its
    own (pytest would record them instead, and its filters differ)."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
            warnings.simplefilter("ignore", category)
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        warnings.showwarning = show
        yield


class _Captured:
    text = ""


@contextmanager
def _native(fd: int) -> Iterator[_Captured]:
    """What code below Python (LanceDB's Rust, C libraries) writes to file descriptor `fd`
    meanwhile; a real process would show it on its stdout or stderr."""
    captured = _Captured()
    with tempfile.TemporaryFile() as file:
        saved = os.dup(fd)
        os.dup2(file.fileno(), fd)
        try:
            yield captured
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            file.seek(0)
            captured.text = file.read().decode("utf-8", "replace")


def _run(main, args: list[str]) -> int:
    """`main(args)` with the exit status Python gives a process: SystemExit's code, or 1 and
    the traceback on stderr for an exception nothing caught."""
    try:
        return main(args)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1


class _LoggingState:
    """The root logger's handlers and the levels of the loggers the CLI sets (and of every logger
    that existed before the call), to put back after it: the CLI sets the library loggers'
    levels and, with -v, adds a handler to the root logger."""

    def __init__(self) -> None:
        from llmops.entrypoints.verbosity import LIBRARY_LOGGERS

        self.handlers = list(logging.root.handlers)
        self.levels = dict.fromkeys(LIBRARY_LOGGERS, logging.NOTSET) | {
            name: logger.level
            for name, logger in logging.root.manager.loggerDict.items()
            if isinstance(logger, logging.Logger)
        }
        self.root_level = logging.root.level
        self.disabled = logging.root.manager.disable

    def restore(self) -> None:
        for handler in logging.root.handlers[:]:
            if handler not in self.handlers:
                logging.root.removeHandler(handler)
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        logging.root.setLevel(self.root_level)
        logging.disable(self.disabled)


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2 with one line on stderr that holds every one of `words`."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0]


def refused(capsys, *args: str) -> str:
    """Run `llmops ARGS` in this process; assert exit 2 and one line on stderr; return that
    line."""
    from llmops.entrypoints.cli import main

    code = main(list(args))
    err = capsys.readouterr().err
    assert code == 2, (args, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, (args, err)
    assert lines[0].startswith("llmops: error: "), lines
    assert "Traceback" not in err
    return lines[0]
