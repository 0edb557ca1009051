"""`llmops drift` and `llmops alerts`: has what users ask changed, and what the sensors
recorded."""

from functools import partial
from pathlib import Path

import click

from llmops.entrypoints.cli.app import cli, emit
from llmops.entrypoints.clients import index_clients, metadata_store
from llmops.errors import InputError


@cli.command()
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    required=True,
    help="Reference texts: JSONL with a `text` field, or one text per line.",
)
@click.option(
    "--current",
    type=click.Path(path_type=Path),
    required=True,
    help="Current texts, same formats.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def drift(reference: Path, current: Path, as_json: bool) -> None:
    """Has what users ask changed in meaning between two sets of texts?

    Works on any two files, without a Dagster instance. When the knowledge base is indexed,
    each emerging topic also says how well the index covers it (best retrieval score).
    JSON: `drift`, `score`, `threshold`, `method`, `explanation` (emerging topics with example
    texts), plus the surface baseline and evidently's scores beside them.
    """
    from llmops.jsonl import read_texts
    from llmops.monitoring.drift import MIN_DRIFT_TEXTS, drift_report

    options = (("--reference", reference), ("--current", current))
    for option, path in options:
        if not path.is_file():
            raise InputError(f"{option}: {path} does not exist or is not a file")
    windows = []
    for option, path in options:
        texts = read_texts(path)
        if len(texts) < MIN_DRIFT_TEXTS:
            raise InputError(
                f"{option}: {path} holds {len(texts)} text; a drift test needs at least "
                f"{MIN_DRIFT_TEXTS} per window"
            )
        windows.append(texts)
    reference_texts, current_texts = windows
    embedder, vectors = index_clients()
    from llmops.retrieval.search import best_scores

    coverage = (
        partial(best_scores, model_id=embedder.model_id, store=vectors)
        if vectors.has_table(embedder.model_id)
        else None
    )
    report = drift_report(reference_texts, current_texts, embedder.encode, coverage)
    payload = report.to_dict()
    emit(payload, as_json, payload["explanation"]["summary"])


@cli.command()
@click.option("--kind", help="Only alerts of this kind (e.g. semantic_drift).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def alerts(kind: str | None, as_json: bool) -> None:
    """Alerts recorded by the sensors, newest first (e.g. a failed semantic drift check, with
    the evaluations of production it requested)."""
    found = metadata_store().alerts.find(kind)
    payload = {
        "alerts": [
            {
                "id": a.id,
                "kind": a.kind,
                "created_at": a.created_at.isoformat(),
                "message": a.message,
                "details": a.details,
            }
            for a in found
        ]
    }
    human = "\n\n".join(f"[{a.created_at:%Y-%m-%d %H:%M} UTC] {a.kind}\n{a.message}" for a in found)
    emit(payload, as_json, human or "no alerts")
