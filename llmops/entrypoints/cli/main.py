"""`llmops` itself: every command registered with its one-line summary, and `main`, which
turns an error into one line on stderr and an exit code."""

import json
import sys

import click

from llmops.entrypoints.cli import (  # noqa: F401 — importing a module registers its commands
    answers,
    contexts,
    evaluation,
    index,
    monitoring,
    prompts,
    service,
    ui,
)
from llmops.entrypoints.cli.app import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    GateFailedError,
    RunFailedError,
    cli,
)
from llmops.errors import InputError, LlmopsError
from llmops.storage.metadata.records import MetadataStoreError

# The one-line summaries `--help` lists; click would cut the docstrings' first lines mid-phrase.
SUMMARIES = {
    "alerts": "List the alerts the sensors recorded, newest first.",
    "ask": "Answer a question from the knowledge base, with its sources.",
    "audit": "Show how one served answer was made, and re-run it.",
    "context": "List and promote context configurations.",
    "context list": "List every context configuration version with its labels.",
    "context promote": "Make a context version production, if its gate passed.",
    "drift": "Test whether two sets of questions differ in meaning.",
    "eval": "Score prompt versions on an eval set and gate candidates.",
    "evalset": "Propose and approve eval cases from thumbs-down answers.",
    "evalset approve": "Add a proposed case to the eval set with its reference answer.",
    "evalset propose": "Write thumbs-down answers as eval-case proposals.",
    "experiments": "Measure context configurations on the retrieval benchmarks.",
    "experiments list": "Compare every experiment run so far.",
    "experiments run": "Build and score context configurations on the benchmarks.",
    "experiments show": "Show one experiment and its gate against production.",
    "feedback": "Rate a served answer up or down.",
    "guard": "Run the input guardrails on a text or a batch file.",
    "ingest": "Index a docs folder into the vector store.",
    "keys": "Create, list and revoke API keys of the HTTP service.",
    "keys create": "Create an API key and print its secret once.",
    "keys list": "List every API key, never its secret.",
    "keys revoke": "Revoke an API key.",
    "prompts": "List, show, promote and roll back prompt versions.",
    "prompts list": "List every prompt version with its labels.",
    "prompts promote": "Make a prompt version production, if its gate passed.",
    "prompts rollback": "Move a prompt's production label back one version.",
    "prompts show": "Show one prompt version, its diff and label history.",
    "search": "Find the passages nearest in meaning to a text.",
    "serve": "Serve the assistant over HTTP.",
    "ui": "Open the Dagster UI with its daemon.",
}


def _commands(group: click.Group, prefix: str = ""):
    for name, command in group.commands.items():
        yield f"{prefix}{name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")


for _path, _command in _commands(cli):
    _command.short_help = SUMMARIES[_path]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; errors become one line on stderr and exit code 2 (bad input) or 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        _require_text(args)
        cli.main(args=args, prog_name="llmops", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.ClickException, LlmopsError, MetadataStoreError) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        return _fail(message, EXIT_BAD_INPUT, "--json" in args)
    except GateFailedError as exc:  # the results are already on stdout
        return _fail(str(exc), EXIT_FAILED, False)
    except RunFailedError as exc:
        return _fail(str(exc), EXIT_FAILED, "--json" in args)
    except click.Abort:
        return _fail("aborted", EXIT_FAILED, False)
    return 0


def _require_text(args: list[str]) -> None:
    """Arguments are text: bytes that are not UTF-8 (binary pasted into a shell) are bad input."""
    for number, arg in enumerate(args, start=1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InputError(f"argument {number} is not UTF-8 text") from exc


def _fail(message: str, code: int, as_json: bool) -> int:
    message = " ".join(message.split())
    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"llmops: error: {message}", err=True)
    return code
