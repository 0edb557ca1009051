"""The `llmops` group and what its commands share: printing, errors and in-process Dagster
runs."""

import json
import logging

import click

from llmops.config import Settings
from llmops.entrypoints.verbosity import configure as configure_logging
from llmops.entrypoints.verbosity import dagster_level, log_level
from llmops.errors import LlmopsError

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class RunFailedError(Exception):
    """A Dagster run did not succeed; not the user's input but worth a one-line message."""


class GateFailedError(Exception):
    """`llmops eval --check`: a candidate failed its promotion gate (exit 1)."""


class PromotionRefusedError(LlmopsError):
    """The promotion gate has not passed for the version to promote."""


def emit(payload: dict, as_json: bool, human: str) -> None:
    """Print `payload` as one JSON line with --json, else the `human` text."""
    click.echo(json.dumps(payload, ensure_ascii=False) if as_json else human)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="llmops")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Show library and Dagster logs on stderr: -v INFO, -vv DEBUG [default: "
    "$LLMOPS_LOG_LEVEL or WARNING].",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Operate a retrieval-augmented assistant as versioned Dagster assets."""
    level = log_level(verbose, Settings.from_env().log_level)
    configure_logging(level)
    ctx.obj = {"log_level": level}


def execute_job(
    name: str, run_config: dict, partition_key: str | None = None, checks_may_fail: bool = False
):
    """Run job `name` in this process on the instance under $LLMOPS_HOME (shown in the UI).

    Runs a killed process left behind are failed first, so they do not hold the LanceDB write
    slot, and this run records its process and renews its lease while it runs, so a later CLI
    (in this container or another) can tell it from a dead one (`pipelines.recovery`). A failed
    step raises RunFailedError with the step's last error line; with
    `checks_may_fail`, a step that failed only because a blocking asset check failed (its
    materialization is stored) does not.
    """
    import uuid

    from dagster import DagsterEventType

    from llmops.entrypoints.instance import dagster_instance
    from pipelines.definitions import build_definitions
    from pipelines.recovery import recover, run_lease

    instance = dagster_instance()
    for run_id in recover(instance):
        click.echo(f"recovered run {run_id}: its process had died; its pool slot is free", err=True)
    console = {"console": {"config": {"log_level": _dagster_level()}}}
    run_id = str(uuid.uuid4())  # known before the run starts, for its lease
    with run_lease(instance, run_id) as owner:
        defs = build_definitions(Settings.from_env())
        result = defs.resolve_job_def(name).execute_in_process(
            run_config={**run_config, "loggers": console},
            instance=instance,
            partition_key=partition_key,
            raise_on_error=False,
            run_id=run_id,
            tags=owner,
        )
    errors = [
        e.step_failure_data.error
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE and e.step_failure_data.error
    ]
    if (
        checks_may_fail
        and errors
        and all(e.cls_name == "DagsterAssetCheckFailedError" for e in errors)
    ):
        return result
    if not result.success:
        failures = [_innermost(e).message.strip().splitlines()[-1] for e in errors]
        raise RunFailedError(
            f"{name} run {result.run_id} failed: {'; '.join(failures) or 'see the Dagster UI'}"
        )
    return result


def _innermost(error):
    """The error the step's own code raised, not Dagster's wrappers around it."""
    while error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def _dagster_level() -> str:
    """The console log level of in-process runs: the CLI's (WARNING unless -v)."""
    context = click.get_current_context(silent=True)
    obj = context.find_root().obj if context else None
    return dagster_level(obj["log_level"] if obj else logging.WARNING)


def promote_options(command):
    """NAME VERSION [--reason TEXT] [--force] [--json], shared by the gated promotions."""
    for option in reversed(
        [
            click.argument("name"),
            click.argument("version"),
            click.option("--reason", help="Why; recorded in the label history."),
            click.option(
                "--force",
                is_flag=True,
                help="Promote although the promotion gate failed or never ran (needs --reason).",
            ),
            click.option(
                "--json", "as_json", is_flag=True, help="Print one JSON object on stdout."
            ),
        ]
    ):
        command = option(command)
    return command
