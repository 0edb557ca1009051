"""Metered LLM calls on real SQLite and PostgreSQL over real HTTP: each call holds its worst
case while in flight, is charged its real cost after, releases the hold when it fails, and
concurrent calls never pass the key's or the global daily budget. A process killed mid-call
leaves a hold that expires.
"""

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from llmops.costs.budget import BudgetExceededError, BudgetLimits, KeyBudgetExceededError
from llmops.costs.metering import RESERVATION_MARGIN, metered_complete
from llmops.costs.pricing import cost
from llmops.entrypoints.access import mint
from llmops.storage.metadata.client import MetadataClient
from resources.llm import LLMClient, LLMRequestError
from tests.support.files import PROJECT_ROOT
from tests.support.llm_server import ScriptedLLMServer, error, ok
from tests.support.pg import fresh_database

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "user", "content": "How many days of annual leave do I get?"}]
MAX_OUTPUT = 50


@pytest.fixture(params=["sqlite", "postgresql"])
def metadata(request, tmp_path) -> Iterator[MetadataClient]:
    if request.param == "sqlite":
        store = MetadataClient(url=f"sqlite:///{tmp_path / 'llmops.db'}")
        yield store
        store.engine.dispose()
        return
    with fresh_database("metering") as url:
        store = MetadataClient(url=url)
        yield store
        store.engine.dispose()


@pytest.fixture
def llm(server) -> LLMClient:
    return LLMClient(base_url=server.base_url, api_key="k", model=MODEL, retry_base_s=0.01)


def _worst_case(llm: LLMClient) -> float:
    return cost(MODEL, llm.count_tokens(MESSAGES), MAX_OUTPUT)


def _call(llm: LLMClient, store: MetadataClient, limits: BudgetLimits):
    tokens = llm.count_tokens(MESSAGES)
    return metered_complete(llm, MESSAGES, tokens, MAX_OUTPUT, 0.0, store, limits, "answer")


def _bills_worst_case(delay_s: float = 0.0):
    """A responder that bills the counted input and every allowed output token."""
    counter = LLMClient(base_url="http://unused", model=MODEL)

    def respond(body: dict):
        return ok(
            "27 days",
            prompt_tokens=counter.count_tokens(body["messages"]),
            completion_tokens=body["max_tokens"],
            delay_s=delay_s,
        )

    return respond


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as running:
        yield running


LIMITS = BudgetLimits(max_input_tokens=2048, max_output_tokens=MAX_OUTPUT)


def test_a_call_holds_its_worst_case_in_flight_and_is_charged_its_real_cost(metadata, server, llm):
    held = []

    def respond(body: dict):
        held.extend(metadata.usage.reservations())
        return ok("27 days", prompt_tokens=30, completion_tokens=4)

    server.responder = respond
    completion, spent = _call(llm, metadata, LIMITS)
    assert completion.text == "27 days"
    [reservation] = held
    assert reservation.amount_usd == pytest.approx(_worst_case(llm))
    assert reservation.expires_at - reservation.created_at == (
        timedelta(seconds=llm.longest_call_s) + RESERVATION_MARGIN
    )
    assert spent == pytest.approx(cost(MODEL, 30, 4))
    assert spent < reservation.amount_usd
    assert metadata.usage.reservations() == []
    [charged] = metadata.usage.find()
    assert (charged.status, charged.cost_usd, charged.output_tokens) == ("charged", spent, 4)


def test_a_failed_call_releases_what_it_held(metadata, server, llm):
    server.script(error(400))
    one_call = BudgetLimits(2048, MAX_OUTPUT, daily_budget_usd=_worst_case(llm))
    with pytest.raises(LLMRequestError):
        _call(llm, metadata, one_call)
    assert metadata.usage.reservations() == []
    assert metadata.usage.find() == []
    server.script(ok("27 days"))
    _call(llm, metadata, one_call)  # the failed call left the whole budget free


@pytest.mark.parametrize("budget", ["key", "global"])
def test_concurrent_calls_never_pass_a_daily_budget(metadata, server, llm, budget):
    server.responder = _bills_worst_case(delay_s=0.3)
    five_calls = 5 * _worst_case(llm)
    if budget == "key":
        key, _ = mint("five-calls", daily_budget_usd=five_calls)
        metadata.api_keys.add(key)
        store, limits, refusal = metadata.for_key(key.id), LIMITS, KeyBudgetExceededError
    else:
        limits = BudgetLimits(2048, MAX_OUTPUT, daily_budget_usd=five_calls)
        store, refusal = metadata, BudgetExceededError

    def attempt(_: int) -> str:
        try:
            _call(llm, store, limits)
        except refusal:
            return "refused"
        return "charged"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(pool.map(attempt, range(20)))
    assert outcomes == {"charged": 5, "refused": 15}
    assert len(server.received) == 5
    ledger = Counter(u.status for u in metadata.usage.find())
    assert ledger == {"charged": 5, "refused": 15}
    charged = sum(u.cost_usd for u in metadata.usage.find())
    assert charged == pytest.approx(five_calls)
    assert charged <= five_calls + 1e-12
    assert metadata.usage.reservations() == []


DIES_MID_CALL = """
import sys
from llmops.costs.budget import BudgetLimits
from llmops.costs.metering import metered_complete
from resources.llm import LLMClient
from llmops.storage.metadata.client import MetadataClient

url, key_id, base_url = sys.argv[1:4]
llm = LLMClient(base_url=base_url, api_key="k", model="gpt-4o-mini", timeout_s=600)
messages = [{"role": "user", "content": "How many days of annual leave do I get?"}]
store = MetadataClient(url=url).for_key(key_id)
metered_complete(llm, messages, 20, 50, 0.0, store, BudgetLimits(2048, 50), "answer")
"""


@pytest.mark.slow
def test_what_a_killed_process_held_expires(metadata, server, llm):
    server.responder = lambda body: ok("never sent", delay_s=60)
    key, _ = mint("dies", daily_budget_usd=1.0)
    metadata.api_keys.add(key)
    dying = subprocess.Popen(
        [sys.executable, "-c", DIES_MID_CALL, metadata.url, key.id, server.base_url],
        cwd=PROJECT_ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while not server.received:  # the call is at the endpoint: the budget is held
            assert dying.poll() is None, "the process ended before its call"
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        dying.send_signal(signal.SIGKILL)
        dying.wait()
    [left] = metadata.usage.reservations()
    assert (left.api_key_id, left.amount_usd) == (key.id, cost(MODEL, 20, 50))
    seen = []
    keyed = metadata.for_key(key.id)
    ttl = timedelta(minutes=1)
    for now in (left.expires_at - timedelta(seconds=1), left.expires_at):
        keyed.usage.reserve(MODEL, "answer", 0.0, seen.append, ttl, False, now=now)
    assert seen[0].key_usd == pytest.approx(left.amount_usd)  # held until it expires
    assert seen[1].key_usd == 0.0  # then it no longer counts
    assert left.id not in {r.id for r in metadata.usage.reservations()}  # and it is swept
