"""`llmops ui`: the Dagster webserver and daemon."""

import click

from llmops.config import Settings
from llmops.entrypoints.cli.app import RunFailedError, cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=3000, show_default=True, help="TCP port."
)
def ui(host: str, port: int) -> None:
    """Open the Dagster UI: the webserver and the daemon (sensors, schedules, queued runs).

    Prints where the UI is and what is already materialized; the services' logs go to
    $LLMOPS_HOME/logs/dagster-ui.log. Ctrl-C stops both.
    """
    from llmops.entrypoints.ui import CodeLocationError, run_ui

    try:
        code = run_ui(Settings.from_env(), host, port, click.echo)
    except CodeLocationError as exc:
        raise RunFailedError(str(exc)) from exc
    if code:
        raise click.exceptions.Exit(code)
