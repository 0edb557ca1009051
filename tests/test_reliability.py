"""The service under load and across restarts, on PostgreSQL.

- Load: 32 concurrent clients for 60 s of mixed ask / search / feedback against real uvicorn on
  loopback, the LLM being the OpenAI-compatible test server (so the service is what is measured,
  not the 135M model). Every request is answered or rate-limited (429); every acknowledged query
  and feedback row is in the database afterwards, and nothing else is.
- Restart: `llmops serve` is stopped and started, and so is the PostgreSQL server, between
  writes; every acknowledged write is still there.

The metadata store lives in a database created for the test on the local server
(`LLMOPS_TEST_PG_URL`); without a server the tests skip, except under `CI=true`.
"""

import os
import random
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from llmops.config import PROJECT_ROOT
from llmops.costs.budget import BudgetLimits
from llmops.entrypoints.access import mint
from llmops.entrypoints.service import Clients, create_app
from llmops.guardrails.config import load_guardrails_config
from llmops.guardrails.pipeline import Guardrails
from llmops.prompts.registry import register
from llmops.prompts.specs import load_prompt_files
from llmops.storage.metadata.client import MetadataClient
from resources.llm import LLMClient
from resources.vector_store import VectorStore
from tests.support.files import write_docs
from tests.support.http_servers import InThread, Served
from tests.support.indexing import materialize_index
from tests.support.llm_server import ScriptedLLMServer, ok

pytestmark = pytest.mark.slow

CLIENTS, SECONDS = 32, 60.0
DOCS = {
    "leave.md": "# Leave\n\n## Annual leave\n\nEveryone gets 27 days of annual leave.\n",
    "expenses.md": "# Expenses\n\nReceipts are required for anything over £25.\n",
    "security.md": "# Security\n\nReport a lost laptop within one hour.\n",
}
QUESTIONS = [
    "How many days of annual leave do I get?",
    "Do I need a receipt for a £10 lunch?",
    "How fast must I report a lost laptop?",
    "Who won the 1998 world cup?",  # below the similarity floor: no LLM call
]


@pytest.fixture
def indexed(tmp_path: Path, embedder) -> Path:
    """A LLMOPS_HOME whose LanceDB holds the indexed DOCS."""
    write_docs(tmp_path / "docs", DOCS)
    materialize_index(tmp_path / "docs", embedder, VectorStore(uri=str(tmp_path / "lancedb")))
    return tmp_path


def test_32_clients_for_60_seconds_lose_nothing(indexed, pg_database, embedder):
    store = MetadataClient(url=pg_database)
    register(load_prompt_files(PROJECT_ROOT / "prompts"), store)
    vectors = VectorStore(uri=str(indexed / "lancedb"))
    keys = {}
    for name, limit in (("tight", 120), ("roomy", 100_000)):
        key, secret = mint(name, rate_limit_per_minute=limit)
        store.api_keys.add(key)
        keys[name] = (key.id, {"Authorization": f"Bearer {secret}"})

    with ScriptedLLMServer(responder=lambda body: ok("27 days [leave.md]")) as llm_server:
        llm = LLMClient(base_url=llm_server.base_url, api_key="k", model="gpt-4o-mini")
        clients = Clients(
            embedder,
            vectors,
            llm,
            BudgetLimits(max_input_tokens=2048, max_output_tokens=100),
            store,
            Guardrails(load_guardrails_config(), embedder, vectors),
        )
        with InThread(create_app(clients)) as url:
            outcomes = _hammer(url, [keys["tight"][1], keys["roomy"][1]])

    statuses = Counter(o["status"] for o in outcomes)
    latencies = np.array([o["ms"] for o in outcomes if o["status"] < 300])
    p50, p95 = np.percentile(latencies, [50, 95])
    print(
        f"\n{len(outcomes)} requests in {SECONDS:.0f} s by {CLIENTS} clients: {dict(statuses)}; "
        f"latency of answered requests p50 {p50:.0f} ms, p95 {p95:.0f} ms"
    )
    assert set(statuses) <= {200, 201, 429}, statuses
    assert statuses[429] > 0  # the tight key was rate-limited
    assert statuses[200] > 100

    asked = {o["query_id"] for o in outcomes if o["kind"] == "ask" and o["status"] == 200}
    rated = {o["feedback_id"] for o in outcomes if o["kind"] == "feedback" and o["status"] == 201}
    assert rated
    key_ids = {key_id for key_id, _ in keys.values()}
    logged = [q for q in store.queries.find() if q.api_key_id in key_ids]
    assert len(logged) == len(asked)  # none lost, none phantom
    assert {q.query_id for q in logged} == asked
    assert {f.id for f in store.feedback.find()} == rated


def _hammer(url: str, headers: list[dict[str, str]]) -> list[dict]:
    """CLIENTS threads sending ask (50%), search (30%) and feedback (20%) for SECONDS; a
    rate-limited client waits for its Retry-After before the next request."""
    deadline = time.monotonic() + SECONDS
    outcomes: list[dict] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        auth = headers[number % len(headers)]
        mine: list[str] = []
        with httpx.Client(base_url=url, headers=auth, timeout=60) as http:
            while time.monotonic() < deadline:
                roll = rng.random()
                started = time.perf_counter()
                if roll < 0.5 or not mine:
                    kind = "ask"
                    response = http.post("/v1/ask", json={"question": rng.choice(QUESTIONS)})
                elif roll < 0.8:
                    kind = "search"
                    response = http.post("/v1/search", json={"query": rng.choice(QUESTIONS)})
                else:
                    kind = "feedback"
                    body = {"query_id": rng.choice(mine), "rating": rng.choice(["up", "down"])}
                    response = http.post("/v1/feedback", json=body)
                outcome = {
                    "kind": kind,
                    "status": response.status_code,
                    "ms": (time.perf_counter() - started) * 1000,
                }
                if kind == "ask" and response.status_code == 200:
                    outcome["query_id"] = response.json()["query_id"]
                    mine.append(outcome["query_id"])
                if kind == "feedback" and response.status_code == 201:
                    outcome["feedback_id"] = response.json()["feedback_id"]
                with lock:
                    outcomes.append(outcome)
                if response.status_code == 429:  # a well-behaved client waits as told
                    wait = float(response.headers.get("Retry-After", "1"))
                    time.sleep(max(0.0, min(wait, deadline - time.monotonic())))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


# --- restarts --------------------------------------------------------------------------------


def _postgres(action: str) -> None:
    """Stop or start the local PostgreSQL cluster (the command `.ci/run` uses)."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which("pg_ctlcluster") is None, reason="needs pg_ctlcluster")
def test_restarting_the_service_and_postgresql_loses_no_acknowledged_write(indexed, pg_database):
    with ScriptedLLMServer(responder=lambda body: ok("27 days [leave.md]")) as llm_server:
        env = {
            **os.environ,
            "LLMOPS_HOME": str(indexed),
            "LLMOPS_DATABASE_URL": pg_database,
            "OPENAI_BASE_URL": llm_server.base_url,
            "OPENAI_API_KEY": "k",
        }
        env.pop("DAGSTER_HOME", None)
        key, secret = mint("restarts")
        MetadataClient(url=pg_database).api_keys.add(key)
        auth = {"X-API-Key": secret}
        served = Served(env, indexed / "serve.log")
        acknowledged: dict[str, list] = {"queries": [], "feedback": []}

        def write(round_: int) -> None:
            for question in QUESTIONS[:3]:
                asked = httpx.post(
                    f"{served.url}/v1/ask", json={"question": question}, headers=auth, timeout=60
                )
                assert asked.status_code == 200, asked.text
                query_id = asked.json()["query_id"]
                acknowledged["queries"].append(query_id)
                body = {"query_id": query_id, "rating": "up", "comment": f"round {round_}"}
                rated = httpx.post(f"{served.url}/v1/feedback", json=body, headers=auth, timeout=60)
                assert rated.status_code == 201, rated.text
                acknowledged["feedback"].append(rated.json()["feedback_id"])

        served.start()
        try:
            write(1)
            served.stop()
            served.start()
            write(2)
            _postgres("stop")
            try:
                down = httpx.post(
                    f"{served.url}/v1/ask",
                    json={"question": QUESTIONS[0]},
                    headers=auth,
                    timeout=60,
                )
                assert down.status_code == 503, down.text  # refused, not acknowledged
            finally:
                _postgres("start")
            write(3)
        finally:
            served.stop()

    store = MetadataClient(url=pg_database)
    stored = {q.query_id for q in store.queries.find()}
    assert set(acknowledged["queries"]) <= stored
    assert len(acknowledged["queries"]) == 9
    assert {f.id for f in store.feedback.find()} >= set(acknowledged["feedback"])
    store.engine.dispose()
