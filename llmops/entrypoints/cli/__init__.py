"""The `llmops` command line.

Every command takes `--json` and then prints exactly one JSON object on stdout (JSONL for
`search --batch`). Bad input exits 2 with one line on stderr naming it; with `--json` the same
message is also printed as `{"error": …}` on stdout.

One module per command group; `main` is the console script.
"""

from llmops.entrypoints.cli.main import main

__all__ = ["main"]
