"""`llmops ingest` and `llmops search`: index a docs folder, find passages."""

import json
import time
from pathlib import Path

import click
from pydantic import BaseModel, Field

from llmops.config import Settings
from llmops.entrypoints import human, payloads
from llmops.entrypoints.cli.app import cli, emit, execute_job
from llmops.entrypoints.clients import index_clients, synced_store
from llmops.errors import InputError
from llmops.jsonl import read_jsonl


@cli.command()
@click.option(
    "--docs",
    type=click.Path(path_type=Path),
    help="Folder of Markdown, text and HTML documents [default: $LLMOPS_DOCS_DIR or corpus/].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def ingest(docs: Path | None, as_json: bool) -> None:
    """Index a docs folder: run the `reindex` job (corpus + index assets) through Dagster.

    Only chunks not yet embedded with the current model are encoded; chunks of changed or
    deleted documents are removed. The run is recorded in the Dagster instance under
    $LLMOPS_HOME, so it shows in the UI.
    """
    docs_dir = (docs or Settings.from_env().docs_dir).resolve()
    if not docs_dir.is_dir():
        raise InputError(f"--docs: {docs_dir} does not exist or is not a folder")
    if not any(path.is_file() for path in docs_dir.rglob("*")):
        # indexing an empty folder would remove every chunk: most likely the wrong folder
        raise InputError(f"--docs: {docs_dir} holds no files; nothing indexed, nothing removed")

    synced_store()  # the production context configuration decides whether it needs its own index
    started = time.perf_counter()
    result = execute_job(
        "reindex", {"ops": {"source_documents": {"config": {"docs_dir": str(docs_dir)}}}}
    )
    seconds = time.perf_counter() - started
    scan = result.output_for_node("source_documents")
    meta = {
        k: v.value
        for k, v in result.asset_materializations_for_node("chunk_embeddings")[0].metadata.items()
    }
    payload = {
        "run_id": result.run_id,
        "docs_dir": str(docs_dir),
        "documents": len(scan.documents),
        "chunks": int(meta["chunks"]),
        "embedded": int(meta["embedded"]),
        "reused": int(meta["reused"]),
        "deleted": int(meta["deleted"]),
        "skipped": [{"path": s.path, "reason": s.reason} for s in scan.skipped],
        "table_version": int(meta["table_version"]),
        "seconds": round(seconds, 3),
    }
    skipped = "".join(f"\n  skipped {s['path']}: {s['reason']}" for s in payload["skipped"])
    emit(
        payload,
        as_json,
        f"indexed {payload['documents']} documents from {docs_dir} "
        f"into {payload['chunks']} chunks: "
        f"{payload['embedded']} embedded, {payload['reused']} reused, {payload['deleted']} deleted "
        f"(table version {payload['table_version']}, {seconds:.1f}s, run {result.run_id}){skipped}",
    )


class BatchQuery(BaseModel):
    id: str | int
    query: str = Field(min_length=1)


@cli.command()
@click.argument("text", required=False)
@click.option("--batch", type=click.Path(path_type=Path), help="JSONL file of {id, query} lines.")
@click.option(
    "-k", "k", type=click.IntRange(1, 100), help="Results per query [default: the context's k]."
)
@click.option(
    "--context",
    "context_ref",
    help="NAME@VERSION (or NAME@LABEL) of the context configuration [default: production].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (JSONL for --batch) on stdout.")
def search(
    text: str | None, batch: Path | None, k: int | None, context_ref: str | None, as_json: bool
) -> None:
    """Find the passages for TEXT, or for every query of a --batch file, as `ask` retrieves
    them: through the production context configuration (or --context), whose name is printed.

    Batch output is JSONL, one line per query: `id`, `query`, `index_version`, `context`,
    `results`.
    """
    if (text is None) == (batch is None):
        raise click.UsageError("give either TEXT or --batch FILE (not both)")
    if text is not None and not text.strip():
        raise InputError("TEXT is empty")
    if batch is not None and not batch.is_file():
        raise InputError(f"--batch: {batch} does not exist or is not a file")
    queries = read_jsonl(batch, BatchQuery) if batch else [BatchQuery(id=0, query=text)]
    if not queries:
        raise InputError(f"--batch: {batch} has no queries")

    from llmops.answering.rag import retrieve_with
    from llmops.retrieval.experiments import serving_context

    embedder, vectors = index_clients()
    settings, embedder = serving_context(synced_store(), embedder, context_ref)
    k = k or settings.k
    retrievals = retrieve_with([q.query for q in queries], embedder, vectors, settings, k=k)
    if batch is not None:
        for q, r in zip(queries, retrievals, strict=True):
            line = {"id": q.id, **payloads.search_result(q.query, k, r, settings.context)}
            click.echo(json.dumps(line, ensure_ascii=False))
        return
    found = retrievals[0]
    emit(
        payloads.search_result(text, k, found, settings.context),
        as_json,
        human.search_text(found.results(), settings.context),
    )
