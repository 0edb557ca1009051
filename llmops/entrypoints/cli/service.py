"""`llmops serve` and `llmops keys`: the HTTP service and its API keys."""

import json

import click

from llmops.entrypoints import payloads
from llmops.entrypoints.cli.app import cli, emit
from llmops.entrypoints.clients import metadata_store
from llmops.entrypoints.tables import text_table
from llmops.errors import InputError
from llmops.extras import needs_extra


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port."
)
@click.option(
    "--insecure-open",
    is_flag=True,
    help="Also serve callers without an API key (never as admins): only on a trusted network.",
)
@click.option(
    "--max-llm-calls",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Requests that may call the LLM at once; more wait for a slot.",
)
@click.option(
    "--print-openapi",
    is_flag=True,
    help="Print the OpenAPI schema and exit (the checked-in llmops/entrypoints/openapi.json).",
)
def serve(
    host: str, port: int, insecure_open: bool, max_llm_calls: int, print_openapi: bool
) -> None:
    """Serve the assistant over HTTP (FastAPI on uvicorn, one process).

    Endpoints: POST /v1/ask {question, prompt?}, POST /v1/search {query, k?}, POST /v1/feedback
    {query_id, rating, comment?}, GET /v1/queries/{id} (lineage; ?rerun=true for admins),
    GET /v1/feedback (admin export), GET /healthz, GET /readyz, GET /metrics (Prometheus, admin)
    and the schema at /openapi.json. Every /v1 request needs a key (`llmops keys create`) sent
    as `Authorization: Bearer <key>` or `X-API-Key: <key>`, unless --insecure-open. Models load
    at start-up, retried with backoff while that fails (/readyz is 503 until then); SIGTERM or
    Ctrl-C finishes the requests in flight first.
    """
    with needs_extra("serve"):
        import uvicorn

        from llmops.entrypoints.service import ServiceOptions, create_app

    if print_openapi:
        click.echo(json.dumps(create_app().openapi(), indent=2, ensure_ascii=False))
        return

    options = ServiceOptions(insecure_open=insecure_open, max_llm_calls=max_llm_calls)
    uvicorn.run(
        create_app(options=options),
        host=host,
        port=port,
        timeout_graceful_shutdown=120,
        log_config=_serve_log_config(),
    )


def _serve_log_config() -> dict:
    """uvicorn's logging, with the service's own lines (start-up warnings, load retries, the
    details of every 5xx under its request id) on stderr beside uvicorn's."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["llmops"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config


@cli.group()
def keys() -> None:
    """API keys of the HTTP service (`llmops serve`): every /v1 request needs one. Only a hash
    of each key is stored; the key itself is printed once, at creation."""


@keys.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Also the admin scope: any query, feedback export.")
@click.option(
    "--rate-limit",
    type=click.IntRange(1),
    default=60,
    show_default=True,
    help="Requests per minute.",
)
@click.option(
    "--daily-budget", type=click.FloatRange(0), help="USD per UTC day of LLM calls [no limit]."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def keys_create(
    name: str, admin: bool, rate_limit: int, daily_budget: float | None, as_json: bool
) -> None:
    """Create a key named NAME and print its secret (shown this once only)."""
    from llmops.entrypoints.access import mint

    key, secret = mint(name, admin, rate_limit, daily_budget)
    metadata_store().api_keys.add(key)
    payload = {**payloads.api_key(key), "key": secret}
    emit(
        payload,
        as_json,
        f"{secret}\n(key {key.id} '{key.name}', scopes {', '.join(key.scopes)}: store it now, "
        "it is not shown again)",
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def keys_list(as_json: bool) -> None:
    """Every key, revoked ones included (ids, names, prefixes; never the secrets)."""
    from llmops.entrypoints.access import CREATE_KEY_HINT

    found = [payloads.api_key(k) for k in metadata_store().api_keys.find()]
    rows = [
        (
            k["id"],
            f"{k['prefix']}…",
            k["name"],
            ", ".join(k["scopes"]),
            f"{k['rate_limit_per_minute']}/min",
            k["daily_budget_usd"] or "-",
            f"revoked {k['revoked_at'][:19]}" if k["revoked_at"] else "active",
        )
        for k in found
    ]
    headers = ("id", "prefix", "name", "scopes", "rate limit", "daily budget USD", "state")
    none = f"no keys: every /v1 request gets 401; {CREATE_KEY_HINT}"
    human = text_table(headers, rows) if rows else none
    emit({"keys": found}, as_json, human)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def keys_revoke(key_id: str, as_json: bool) -> None:
    """Revoke key KEY_ID (see `llmops keys list`): its requests get 403 from now on."""
    from llmops.storage.metadata.records import UnknownApiKeyError

    try:
        key = metadata_store().api_keys.revoke(key_id)
    except UnknownApiKeyError as exc:
        raise InputError(f"{exc}: see `llmops keys list`") from exc
    emit(payloads.api_key(key), as_json, f"revoked key {key.id} ({key.name})")
