"""The `llmops` command as the tests run it, and what its errors look like."""

import os
import subprocess
import sys
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


def llmops(*args: str, home: Path, docs: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMOPS_HOME": str(home)}
    env.pop("DAGSTER_HOME", None)
    if docs is not None:
        env["LLMOPS_DOCS_DIR"] = str(docs)
    return subprocess.run(
        [sys.executable, "-m", "llmops.entrypoints.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


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
