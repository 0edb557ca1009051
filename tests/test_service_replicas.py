"""Two `llmops serve` processes on one metadata store, as two replicas of a deployment: a SQLite
file, and a PostgreSQL database. Together they enforce one daily budget per API key, one global
daily budget (`LLMOPS_DAILY_BUDGET_USD`) and one rate limit per key.

The scripted endpoint bills every call its worst case (the answer uses each output token it is
allowed, and input tokens are free at the test model's price), so a budget of N calls' worth
admits at most N calls, however many arrive at once.
"""

import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from llmops.config import PROJECT_ROOT
from llmops.entrypoints.access import mint
from llmops.prompts.registry import register
from llmops.prompts.specs import load_prompt_files
from llmops.storage.metadata.client import MetadataClient
from resources.vector_store import VectorStore
from tests.support.files import write_docs
from tests.support.http_servers import Served
from tests.support.indexing import materialize_index
from tests.support.llm_server import ScriptedLLMServer, ok
from tests.support.pg import fresh_database

pytestmark = pytest.mark.slow

MODEL = "replica-test-model"
OUTPUT_USD_PER_MILLION = 10.0
MAX_OUTPUT_TOKENS = 100
CALL_USD = MAX_OUTPUT_TOKENS * OUTPUT_USD_PER_MILLION / 1e6  # what every call is charged
GLOBAL_CALLS = 12  # LLMOPS_DAILY_BUDGET_USD covers this many calls
ASKS = 40
QUESTION = {"question": "How many days of annual leave do I get?"}


def _bill_worst_case(body: dict):
    """Every output token the request allows; slow enough for the asks to overlap."""
    return ok("27 days [leave.md]", completion_tokens=body["max_tokens"], delay_s=0.5)


@pytest.fixture(scope="module")
def llm_server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer(responder=_bill_worst_case) as running:
        yield running


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, embedder) -> Path:
    """A docs folder indexed once into `lancedb/` under the returned folder."""
    root = tmp_path_factory.mktemp("replicas")
    write_docs(root / "docs", {"leave.md": "# Leave\n\nEveryone gets 27 days of annual leave.\n"})
    materialize_index(root / "docs", embedder, VectorStore(uri=str(root / "lancedb")))
    (root / "prices.yaml").write_text(
        f"{MODEL}: {{input: 0, output: {OUTPUT_USD_PER_MILLION}}}\n", encoding="utf-8"
    )
    (root / "no-contexts").mkdir()
    return root


@dataclass
class Replicas:
    """Two running `llmops serve` processes and the store they share."""

    urls: list[str]
    store: MetadataClient


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def replicas(request, indexed, llm_server) -> Iterator[Replicas]:
    if request.param == "sqlite":
        with _serving(f"sqlite:///{indexed / 'shared.db'}", indexed, llm_server) as running:
            yield running
    else:
        with fresh_database("replicas") as url, _serving(url, indexed, llm_server) as running:
            yield running


class _serving:
    """Both replicas, started on `database_url` with its prompts registered beforehand (so
    they do not race to register the first version), stopped on exit."""

    def __init__(self, database_url: str, root: Path, llm_server: ScriptedLLMServer) -> None:
        self.store = MetadataClient(url=database_url)
        register(load_prompt_files(PROJECT_ROOT / "prompts"), self.store)
        self.served = [
            Served(
                {
                    **os.environ,
                    "LLMOPS_HOME": str(root / f"home-{name}"),
                    "LLMOPS_LANCEDB_URI": str(root / "lancedb"),
                    "LLMOPS_DATABASE_URL": database_url,
                    "LLMOPS_PROMPTS_DIR": str(PROJECT_ROOT / "prompts"),
                    "LLMOPS_CONTEXTS_DIR": str(root / "no-contexts"),
                    "LLMOPS_PRICES": str(root / "prices.yaml"),
                    "LLMOPS_MAX_OUTPUT_TOKENS": str(MAX_OUTPUT_TOKENS),
                    "LLMOPS_DAILY_BUDGET_USD": str(GLOBAL_CALLS * CALL_USD),
                    "LLMOPS_CHAT_MODEL": MODEL,
                    "OPENAI_BASE_URL": llm_server.base_url,
                    "OPENAI_API_KEY": "k",
                },
                root / f"serve-{name}.log",
            )
            for name in ("a", "b")
        ]

    def __enter__(self) -> Replicas:
        try:
            with ThreadPoolExecutor(max_workers=len(self.served)) as pool:
                list(pool.map(Served.start, self.served))  # both load their models at once
        except BaseException:
            self.__exit__()
            raise
        return Replicas([s.url for s in self.served], self.store)

    def __exit__(self, *exc_info) -> None:
        for served in self.served:
            served.kill()
        self.store.engine.dispose()


def _key(store: MetadataClient, **limits) -> tuple[str, dict[str, str]]:
    key, secret = mint("replica-test", **limits)
    store.api_keys.add(key)
    return key.id, {"Authorization": f"Bearer {secret}"}


def _at_once(urls: list[str], path: str, body: dict, headers: dict, count: int):
    """`count` POSTs at once, alternating between the replicas."""

    def post(i: int) -> httpx.Response:
        return httpx.post(f"{urls[i % len(urls)]}{path}", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(post, range(count)))


def _charged(store: MetadataClient, key_id: str) -> list[float]:
    return [
        u.cost_usd for u in store.usage.find() if u.api_key_id == key_id and u.status == "charged"
    ]


def _global_room(store: MetadataClient) -> int:
    """Calls the global budget still covers today."""
    spent = store.usage.spent_on(datetime.now(UTC).date())
    return round((GLOBAL_CALLS * CALL_USD - spent) / CALL_USD)


def test_a_key_budget_holds_for_concurrent_asks_across_two_replicas(replicas, llm_server):
    store = replicas.store
    key_id, headers = _key(store, rate_limit_per_minute=1000, daily_budget_usd=5 * CALL_USD)
    admitted = min(5, _global_room(store))  # 5 unless the global budget is spent (-k order)
    calls = len(llm_server.received)
    answers = _at_once(replicas.urls, "/v1/ask", QUESTION, headers, ASKS)
    assert Counter(r.status_code for r in answers) == {200: admitted, 429: ASKS - admitted}
    assert len(llm_server.received) - calls == admitted  # the refused never reached the model
    refused = next(r for r in answers if r.status_code == 429)
    assert "daily budget" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    charged = _charged(store, key_id)
    assert len(charged) == admitted
    assert sum(charged) <= 5 * CALL_USD + 1e-12
    assert store.usage.reservations() == []  # every reservation settled or released


def test_the_global_budget_holds_for_concurrent_asks_across_two_replicas(replicas, llm_server):
    store = replicas.store
    room = _global_room(store)
    assert room >= 1
    _, headers = _key(store, rate_limit_per_minute=1000)  # no budget of its own
    calls = len(llm_server.received)
    answers = _at_once(replicas.urls, "/v1/ask", QUESTION, headers, ASKS)
    assert Counter(r.status_code for r in answers) == {200: room, 429: ASKS - room}
    assert len(llm_server.received) - calls == room
    refused = next(r for r in answers if r.status_code == 429)
    assert "the service's daily LLM budget is used up" in refused.json()["detail"]
    assert store.usage.spent_on(datetime.now(UTC).date()) <= GLOBAL_CALLS * CALL_USD + 1e-12
    assert store.usage.reservations() == []


def test_rate_limit_holds_across_two_replicas(replicas):
    _, headers = _key(replicas.store, rate_limit_per_minute=10)
    found = _at_once(replicas.urls, "/v1/search", {"query": "annual leave"}, headers, 30)
    assert Counter(r.status_code for r in found) == {200: 10, 429: 20}
    limited = next(r for r in found if r.status_code == 429)
    assert "10 requests per minute" in limited.json()["detail"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    for url in replicas.urls:  # each replica refuses on its own: the window is shared
        response = httpx.post(
            f"{url}/v1/search", json={"query": "leave"}, headers=headers, timeout=60
        )
        assert response.status_code == 429
