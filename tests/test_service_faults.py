"""The service under faults, on real uvicorn over HTTP with real SQLite and PostgreSQL:

- a 5xx (the LLM endpoint down, the database down, a bug) tells the caller a generic message
  and a request id, and the server log has the details under that id;
- models that load slowly: a request meanwhile gets an immediate 503 with `Retry-After`;
- a store that is not up yet: loading is retried until it is, and `/healthz` turns 503 after
  repeated failures;
- slow LLM calls wait for one of `max_llm_calls` slots, and the probes answer meanwhile.
"""

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from uuid import uuid4

import httpx
import pytest
import sqlalchemy as sa

from llmops.config import PROJECT_ROOT
from llmops.entrypoints.access import mint
from llmops.entrypoints.service import LoadRetry, ServiceOptions, create_app
from llmops.prompts.registry import register
from llmops.prompts.specs import load_prompt_files
from llmops.storage.metadata.client import MetadataClient
from resources.llm import LLMClient
from tests.support.http_servers import InThread, Served, free_port
from tests.support.llm_server import ScriptedLLMServer, ok
from tests.support.pg import PG_URL

pytestmark = pytest.mark.slow

QUESTION = "How many days of annual leave do I get?"
# Nothing of these may reach a caller: hosts, ports, URLs, drivers, exception names.
INTERNALS = ("127.0.0.1", ":5432", "http", "postgres", "psycopg", "sqlalchemy", "error:", "fatal")


def _connections(database_url: str, allowed: bool) -> None:
    """Let clients connect to the database, or refuse them and end the open sessions: to the
    service it is down."""
    name = sa.engine.make_url(database_url).database
    admin = MetadataClient(url=PG_URL).engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allowed}'))
        if not allowed:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                ),
                {"n": name},
            )


def test_a_5xx_says_only_a_request_id_and_the_log_has_the_details(
    root,
    pg_database,
    tmp_path,
):
    store = MetadataClient(url=pg_database)
    register(load_prompt_files(PROJECT_ROOT / "prompts"), store)
    key, secret = mint("operator", admin=True)
    store.api_keys.add(key)
    store.engine.dispose()
    llm_port = free_port()  # nothing listens there: the LLM endpoint is down
    env = {
        **os.environ,
        "LLMOPS_HOME": str(tmp_path / "home"),
        "LLMOPS_LANCEDB_URI": str(root / "lancedb"),
        "LLMOPS_DATABASE_URL": pg_database,
        "LLMOPS_PROMPTS_DIR": str(PROJECT_ROOT / "prompts"),
        "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "OPENAI_API_KEY": "k",
        "LLMOPS_CHAT_MODEL": "gpt-4o-mini",
    }
    env.pop("DAGSTER_HOME", None)
    served = Served(env, tmp_path / "serve.log")
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        served.start()
        llm_down = httpx.post(
            f"{served.url}/v1/ask", json={"question": QUESTION}, headers=headers, timeout=120
        )
        _connections(pg_database, allowed=False)
        db_down = httpx.post(
            f"{served.url}/v1/search", json={"query": QUESTION}, headers=headers, timeout=60
        )
    finally:
        _connections(pg_database, allowed=True)
        served.kill()
    log = served.log.read_text()
    database = sa.engine.make_url(pg_database).database
    for response, status, detail in (
        (llm_down, 502, f"127.0.0.1:{llm_port}"),  # the endpoint's URL
        (db_down, 503, database),  # the database's name, the driver's error
    ):
        assert response.status_code == status, response.text
        body = response.json()
        assert body.keys() == {"detail", "request_id"}, body
        assert body["request_id"] == response.headers["X-Request-ID"]
        shown = response.text.lower()
        for internal in (*INTERNALS, str(llm_port), database):
            assert internal not in shown, (internal, response.text)
        logged = [line for line in log.splitlines() if body["request_id"] in line]
        assert logged, log
        assert detail in " ".join(logged), logged


def test_an_unexpected_error_is_a_500_naming_only_its_request_id(clients, caplog):
    app = create_app(clients)

    @app.get("/v1/crash")
    def crash() -> None:  # a bug that leaks a URL in its message
        raise RuntimeError("cannot reach postgresql://llmops:secret@db.internal:5432/llmops")

    with caplog.at_level(logging.ERROR, logger="llmops.service"), InThread(app) as url:
        response = httpx.get(f"{url}/v1/crash")
    assert response.status_code == 500
    body = response.json()
    assert body.keys() == {"detail", "request_id"}
    assert body["detail"] == f"internal error (request id {body['request_id']})"
    assert "db.internal" not in response.text
    assert response.headers["X-Request-ID"] == body["request_id"]
    [logged] = [r for r in caplog.records if body["request_id"] in r.getMessage()]
    assert "db.internal" in logged.exc_text  # the traceback is in the log


def test_a_request_while_the_models_load_gets_an_immediate_503_with_retry_after(
    clients,
):
    release = threading.Event()

    def slow_factory():
        release.wait(120)
        return clients

    with InThread(create_app(slow_factory), wait_ready=False) as url:
        try:
            for method, path, body in (
                ("POST", "/v1/ask", {"question": QUESTION}),
                ("POST", "/v1/search", {"query": QUESTION}),
                ("GET", "/readyz", None),
            ):
                started = time.perf_counter()
                response = httpx.request(method, f"{url}{path}", json=body, timeout=10)
                assert time.perf_counter() - started < 2.0, path  # not held until loaded
                assert response.status_code == 503, response.text
                assert int(response.headers["Retry-After"]) >= 1
                assert "starting" in response.json()["detail"]
            assert httpx.get(f"{url}/healthz").status_code == 200  # alive while loading
        finally:
            release.set()


def test_loading_is_retried_until_the_store_is_up_and_healthz_fails_meanwhile(
    clients,
    pg_admin,
    caplog,
):
    name = f"llmops_late_{uuid4().hex[:12]}"
    late_url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(False)
    admin = pg_admin.execution_options(isolation_level="AUTOCOMMIT")

    def factory():
        store = MetadataClient(url=late_url)
        register(load_prompt_files(PROJECT_ROOT / "prompts"), store)  # fails until it exists
        return replace(clients, store=store)

    retry = LoadRetry(first_delay_s=0.05, max_delay_s=0.2, unhealthy_after=3)
    app = create_app(factory, ServiceOptions(load_retry=retry))
    logged = caplog.at_level(logging.ERROR, logger="llmops.service")
    try:
        with logged, InThread(app, wait_ready=False) as url:
            assert httpx.get(f"{url}/readyz").status_code == 503
            deadline = time.monotonic() + 60
            while (health := httpx.get(f"{url}/healthz")).status_code == 200:
                assert time.monotonic() < deadline, "/healthz never turned unhealthy"
                time.sleep(0.05)
            assert health.status_code == 503
            assert name not in health.text  # the reason is in the log, not in the body
            with admin.connect() as connection:  # PostgreSQL comes up
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            while (ready := httpx.get(f"{url}/readyz")).status_code != 200:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.05)
            assert httpx.get(f"{url}/healthz").status_code == 200
            search = httpx.post(f"{url}/v1/search", json={"query": QUESTION})
            assert search.status_code == 401  # served, and closed: no key exists here
    finally:
        MetadataClient(url=late_url).engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) >= retry.unhealthy_after
    assert name in retries[0].getMessage()  # the cause is in the log, on one line


def test_llm_calls_wait_for_a_slot_and_the_probes_answer_meanwhile(clients):
    delay_s, slots, asks = 1.0, 2, 6
    with ScriptedLLMServer(responder=lambda _: ok("27 days", delay_s=delay_s)) as slow:
        llm = LLMClient(base_url=slow.base_url, api_key="k", model="gpt-4o-mini")
        key, secret = mint("busy")
        clients.store.api_keys.add(key)
        app = create_app(replace(clients, llm=llm), ServiceOptions(max_llm_calls=slots))
        try:
            with InThread(app) as url, ThreadPoolExecutor(asks) as pool:
                answers = [
                    pool.submit(
                        httpx.post,
                        f"{url}/v1/ask",
                        json={"question": QUESTION},
                        headers={"X-API-Key": secret},
                        timeout=60,
                    )
                    for _ in range(asks)
                ]
                while len(slow.received) < slots:
                    time.sleep(0.02)
                for probe in ("/healthz", "/readyz"):
                    started = time.perf_counter()
                    assert httpx.get(f"{url}{probe}", timeout=5).status_code == 200
                    assert time.perf_counter() - started < 0.5, probe
                statuses = [a.result().status_code for a in answers]
        finally:
            clients.store.api_keys.revoke(key.id)
    assert statuses == [200] * asks
    arrived = sorted(r.at for r in slow.received)
    assert len(arrived) == asks
    # at most `slots` calls at the LLM at once: a third starts only when a first has ended
    gaps = [later - first for first, later in zip(arrived, arrived[slots:], strict=False)]
    assert min(gaps) >= delay_s * 0.9, arrived
