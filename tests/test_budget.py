"""Prices, the daily budgets (global and per API key) and context fitting."""

import json

import pytest

from llmops.costs.budget import (
    BudgetExceededError,
    BudgetLimits,
    InputTooLongError,
    KeyBudgetExceededError,
    check_daily_budget,
    check_key_budget,
    fit_context,
)
from llmops.costs.pricing import BUILTIN_PRICES, Price, UnknownPriceError, cost, price, price_table
from llmops.errors import InputError


def words(text: str) -> int:
    """A token counter that is easy to reason about: one token per word."""
    return len(text.split())


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "LLMOPS_PRICES",
        "LLMOPS_MAX_INPUT_TOKENS",
        "LLMOPS_MAX_OUTPUT_TOKENS",
        "LLMOPS_DAILY_BUDGET_USD",
    ):
        monkeypatch.delenv(name, raising=False)


def test_builtin_prices():
    assert price("gpt-4o-mini") == Price(0.15, 0.60)
    assert price("gpt-4o") == Price(2.50, 10.00)
    assert price("gpt-4.1-mini") == Price(0.40, 1.60)
    assert price("gpt-4.1") == Price(2.00, 8.00)
    assert price("gpt-3.5-turbo") == Price(0.50, 1.50)
    assert cost("SmolLM2-135M-Instruct", 10_000, 10_000) == 0.0
    assert cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost("gpt-4o", 2000, 256) == pytest.approx(2000 * 2.5e-6 + 256 * 10e-6)


def test_dated_snapshots_and_case_use_the_base_price():
    assert price("gpt-4o-mini-2024-07-18") == BUILTIN_PRICES["gpt-4o-mini"]
    assert price("GPT-4o") == BUILTIN_PRICES["gpt-4o"]


def test_unknown_model_is_refused_not_free(tmp_path, monkeypatch):
    with pytest.raises(UnknownPriceError, match=r"llama3\.2") as raised:
        cost("llama3.2", 100, 100)
    assert "LLMOPS_PRICES" in str(raised.value)

    prices = tmp_path / "prices.yaml"
    prices.write_text("gpt-4o: {input: 2.5, output: 10}\n")
    monkeypatch.setenv("LLMOPS_PRICES", str(prices))
    with pytest.raises(UnknownPriceError, match=str(prices)):
        price("gpt-4o-mini-tts")


def test_override_file_adds_and_replaces_prices(tmp_path, monkeypatch):
    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "gpt-4o-mini:\n  input: 0.2\n  output: 0.8\nLlama3.2: {input: 0, output: 0}\n"
    )
    monkeypatch.setenv("LLMOPS_PRICES", str(prices))
    assert price("gpt-4o-mini") == Price(0.2, 0.8)
    assert cost("llama3.2", 5000, 5000) == 0.0
    assert price("gpt-4o") == BUILTIN_PRICES["gpt-4o"]

    as_json = tmp_path / "prices.json"
    as_json.write_text(json.dumps({"my-model": {"input": 1, "output": 2}}))
    monkeypatch.setenv("LLMOPS_PRICES", str(as_json))
    assert cost("my-model", 1_000_000, 500_000) == pytest.approx(2.0)

    as_json.write_text(json.dumps({"my-model": {"input": 3, "output": 4}}) + "\n")
    assert price("my-model") == Price(3, 4)  # edits are picked up


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("p.yaml", "gpt-4o: {input: 1, output: [2\n", "p.yaml:2: invalid YAML"),
        ("p.json", '{"gpt-4o": {"input": 1,}}', "p.json:1: invalid JSON"),
        ("p.yaml", "- gpt-4o\n", "must map model names"),
        ("p.yaml", "", "must map model names"),
        ("p.yaml", "gpt-4o: {input: 1}\n", "gpt-4o: needs exactly `input` and `output`"),
        ("p.yaml", "gpt-4o: {input: 1, output: -2}\n", "number ≥ 0"),
        ("p.yaml", "gpt-4o: {input: '1', output: 2}\n", "number ≥ 0"),
        ("p.yaml", "gpt-4o: {input: 1, output: 2, cached: 0.5}\n", "needs exactly"),
        ("p.yaml", "gpt-4o: 3\n", "needs exactly"),
    ],
)
def test_malformed_override_names_file_and_problem(tmp_path, monkeypatch, name, content, says):
    path = tmp_path / name
    path.write_text(content)
    monkeypatch.setenv("LLMOPS_PRICES", str(path))
    with pytest.raises(InputError) as raised:
        price_table()
    assert str(raised.value).startswith(str(path))
    assert says in str(raised.value)


def test_missing_override_file_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_PRICES", str(tmp_path / "absent.yaml"))
    with pytest.raises(InputError, match=r"absent\.yaml: LLMOPS_PRICES names a file"):
        cost("gpt-4o", 1, 1)


def test_limits_from_env(monkeypatch):
    assert BudgetLimits.from_env() == BudgetLimits(2048, 256, None)
    monkeypatch.setenv("LLMOPS_MAX_INPUT_TOKENS", "4000")
    monkeypatch.setenv("LLMOPS_MAX_OUTPUT_TOKENS", "100")
    monkeypatch.setenv("LLMOPS_DAILY_BUDGET_USD", "2.50")
    assert BudgetLimits.from_env() == BudgetLimits(4000, 100, 2.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LLMOPS_MAX_INPUT_TOKENS", "lots"),
        ("LLMOPS_MAX_INPUT_TOKENS", "0"),
        ("LLMOPS_MAX_OUTPUT_TOKENS", "2.5"),
        ("LLMOPS_DAILY_BUDGET_USD", "-1"),
        ("LLMOPS_DAILY_BUDGET_USD", "$5"),
        ("LLMOPS_DAILY_BUDGET_USD", "nan"),
    ],
)
def test_bad_limits_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(InputError, match=f"{name} must be") as raised:
        BudgetLimits.from_env()
    assert repr(value) in str(raised.value)


def test_call_over_the_daily_budget_is_refused_before_it_is_made():
    limits = BudgetLimits(2048, 256, daily_budget_usd=1.00)
    worst_case = cost("gpt-4o", 2048, 256)  # every output token used: $0.00768
    check_daily_budget(1.00 - worst_case, worst_case, limits)  # exactly at the limit
    check_daily_budget(0.99, worst_case, limits)
    with pytest.raises(BudgetExceededError) as raised:
        check_daily_budget(0.995, worst_case, limits)
    message = str(raised.value)
    assert "$0.995000 spent or held today" in message
    assert "$0.007680 for this call" in message
    assert "LLMOPS_DAILY_BUDGET_USD=$1.00" in message


def test_a_key_over_its_own_budget_is_refused_with_its_id_and_numbers():
    worst_case = cost("gpt-4o-mini", 400, 100)  # $0.00012
    check_key_budget("k1", 0.0, worst_case, None)  # no budget of its own
    check_key_budget("k1", 5 * worst_case, worst_case, 6 * worst_case)  # exactly at it
    with pytest.raises(KeyBudgetExceededError) as raised:
        check_key_budget("k1", 0.0, worst_case, worst_case / 2)  # its worst case must fit
    assert isinstance(raised.value, BudgetExceededError)  # one 429 for either budget
    message = str(raised.value)
    assert "daily budget of API key k1 reached" in message
    assert "$0.000000 spent or held today plus up to $0.000120" in message
    assert "exceeds its $0.000060" in message


def test_float_sums_do_not_refuse_an_exact_fit():
    check_daily_budget(0.1, 0.2, BudgetLimits(1, 1, daily_budget_usd=0.3))


def test_no_daily_limit_never_refuses_and_zero_allows_free_models():
    check_daily_budget(10_000.0, 500.0, BudgetLimits(1, 1, daily_budget_usd=None))
    check_daily_budget(0.0, cost("SmolLM2-135M-Instruct", 2048, 256), BudgetLimits(1, 1, 0.0))
    with pytest.raises(BudgetExceededError):
        check_daily_budget(0.0, cost("gpt-4o-mini", 10, 10), BudgetLimits(1, 1, 0.0))


QUESTION = "how many days of leave"  # 5 tokens


def test_everything_fits_untouched():
    contexts = ["a b c", "d e"]
    fitted = fit_context(QUESTION, contexts, words, overhead_tokens=10, max_input_tokens=100)
    assert fitted.contexts == contexts
    assert (fitted.trimmed, fitted.dropped, fitted.truncated) == (False, 0, False)
    assert fitted.input_tokens == 5 + 10 + 5


def test_lowest_ranked_contexts_are_dropped_first():
    contexts = ["best " * 10, "second " * 10, "third " * 10, "tiny"]
    fitted = fit_context(QUESTION, contexts, words, overhead_tokens=5, max_input_tokens=35)
    assert fitted.contexts == contexts[:2]
    assert (fitted.trimmed, fitted.dropped, fitted.truncated) == (True, 2, False)
    assert fitted.input_tokens == 30


def test_a_too_long_top_context_is_cut_at_a_word_and_the_question_kept():
    top = " ".join(f"w{i}" for i in range(100))
    fitted = fit_context(QUESTION, [top, "other"], words, overhead_tokens=5, max_input_tokens=30)
    assert fitted.contexts == [" ".join(f"w{i}" for i in range(20))]
    assert (fitted.trimmed, fitted.dropped, fitted.truncated) == (True, 1, True)
    assert fitted.input_tokens == 30


def test_no_room_for_context_keeps_the_question():
    fitted = fit_context(QUESTION, ["a b"], words, overhead_tokens=5, max_input_tokens=10)
    assert fitted.contexts == []
    assert (fitted.dropped, fitted.input_tokens) == (1, 10)


def test_a_question_too_long_to_fit_is_refused_not_cut():
    question = "word " * 50
    with pytest.raises(InputTooLongError) as raised:
        fit_context(question, ["context"], words, overhead_tokens=20, max_input_tokens=60)
    message = str(raised.value)
    assert "question is 50 tokens" in message
    assert "needs 70 input tokens, more than the 60" in message
