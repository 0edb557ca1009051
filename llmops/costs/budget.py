"""Limits on what one call and one day may spend, checked before the model is called.

Pure functions: the caller brings today's spend and the token counter, so the same rules serve
the CLI, the assets and the HTTP service. `metering` applies them inside the metadata store's
reservation transaction, so concurrent calls (threads, processes, replicas) cannot overrun them.

| variable | default | meaning |
|---|---|---|
| `LLMOPS_MAX_INPUT_TOKENS` | 2048 | prompt tokens per call; retrieved context is trimmed to fit |
| `LLMOPS_MAX_OUTPUT_TOKENS` | 256 | answer tokens per call |
| `LLMOPS_DAILY_BUDGET_USD` | unset: no limit | USD per day; calls that could pass it are refused |
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass

from llmops.config import positive_int_env
from llmops.errors import InputError, LlmopsError

_USD_TOLERANCE = 1e-9  # float sums such as 0.1 + 0.2 must not refuse a call that fits exactly


class BudgetExceededError(LlmopsError):
    """The call could push today's spend past `LLMOPS_DAILY_BUDGET_USD`; it was not made."""


class KeyBudgetExceededError(BudgetExceededError):
    """The call could push an API key's spend today past the key's daily budget; not made."""


class InputTooLongError(LlmopsError):
    """The question alone does not fit the input token limit; it is never cut."""


def _usd(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:.6f}"


def optional_usd(name: str) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{name} must be an amount of USD ≥ 0 (e.g. 5 or 0.50), got {raw!r}")
    return value


@dataclass(frozen=True)
class BudgetLimits:
    """Tokens per call and USD per day; `daily_budget_usd` None means no daily limit."""

    max_input_tokens: int
    max_output_tokens: int
    daily_budget_usd: float | None = None

    def __post_init__(self) -> None:
        if self.max_input_tokens < 1 or self.max_output_tokens < 1:
            raise ValueError(f"token limits must be positive: {self}")
        if self.daily_budget_usd is not None and not self.daily_budget_usd >= 0:
            raise ValueError(f"daily budget must be ≥ 0: {self}")

    @classmethod
    def from_env(cls) -> BudgetLimits:
        """Limits from the environment; a bad value raises InputError naming the variable."""
        return cls(
            max_input_tokens=positive_int_env("LLMOPS_MAX_INPUT_TOKENS", 2048),
            max_output_tokens=positive_int_env("LLMOPS_MAX_OUTPUT_TOKENS", 256),
            daily_budget_usd=optional_usd("LLMOPS_DAILY_BUDGET_USD"),
        )


def check_daily_budget(spent_today: float, estimated_max_cost: float, limits: BudgetLimits) -> None:
    """Refuse a call whose worst case would take today's spend past the daily budget.

    `spent_today` counts what calls in flight hold as well as what was charged.
    `estimated_max_cost` is the call's worst case, `pricing.cost(model, input_tokens,
    limits.max_output_tokens)`: the answer may use every output token it is allowed. Reaching
    the budget exactly is allowed.
    """
    _check_costs(spent_today, estimated_max_cost)
    limit = limits.daily_budget_usd
    if limit is None or spent_today + estimated_max_cost <= limit + _USD_TOLERANCE:
        return
    raise BudgetExceededError(
        f"daily budget reached: {_usd(spent_today)} spent or held today plus up to "
        f"{_usd(estimated_max_cost)} for this call exceeds LLMOPS_DAILY_BUDGET_USD="
        f"{_usd(limit)}; the call was not made (raise the budget or wait for tomorrow, UTC)"
    )


def check_key_budget(
    key_id: str, spent_today: float, estimated_max_cost: float, daily_budget_usd: float | None
) -> None:
    """Refuse a call whose worst case would take API key `key_id` past its own daily budget
    (None: the key has none); the same rule as `check_daily_budget`, per key."""
    _check_costs(spent_today, estimated_max_cost)
    if daily_budget_usd is None or (
        spent_today + estimated_max_cost <= daily_budget_usd + _USD_TOLERANCE
    ):
        return
    raise KeyBudgetExceededError(
        f"daily budget of API key {key_id} reached: {_usd(spent_today)} spent or held today "
        f"plus up to {_usd(estimated_max_cost)} for this call exceeds its "
        f"{_usd(daily_budget_usd)}; no LLM call was made (wait for tomorrow, UTC, or ask for a "
        "key with a larger --daily-budget)"
    )


def _check_costs(spent_today: float, estimated_max_cost: float) -> None:
    if spent_today < 0 or estimated_max_cost < 0:
        raise ValueError(f"costs must be ≥ 0, got {spent_today} and {estimated_max_cost}")


@dataclass(frozen=True)
class FittedContext:
    """The contexts that fit, in rank order, and what was cut to get there.

    `trimmed` says anything was cut: `dropped` whole contexts from the end and/or the top one
    `truncated`. `input_tokens` adds up the counts of question, overhead and kept contexts.
    """

    contexts: list[str]
    trimmed: bool
    dropped: int
    input_tokens: int
    truncated: bool = False


def _longest_prefix(text: str, room: int, count_tokens: Callable[[str], int]) -> str:
    """The longest start of `text` within `room` tokens, cut at a word boundary if one is near."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(text[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    prefix = text[:low]
    if low < len(text):
        space = max(prefix.rfind(" "), prefix.rfind("\n"))
        if space > low // 2:
            prefix = prefix[:space]
    return prefix.rstrip()


def fit_context(
    question: str,
    contexts: list[str],
    count_tokens: Callable[[str], int],
    overhead_tokens: int,
    max_input_tokens: int,
    per_context_tokens: int = 0,
) -> FittedContext:
    """Keep the best-ranked contexts that fit `max_input_tokens` together with the question.

    `contexts` come best first. Whole contexts are dropped from the end; if even the first does
    not fit alone, it is cut to the room left. The question is never cut: if it does not fit
    with `overhead_tokens` (system text, template, chat framing), InputTooLongError. Framing
    around each kept context (fences, source lines) costs `per_context_tokens`.
    """
    question_tokens = count_tokens(question)
    fixed = question_tokens + overhead_tokens
    if fixed > max_input_tokens:
        raise InputTooLongError(
            f"the question is {question_tokens} tokens; with {overhead_tokens} tokens of prompt "
            f"around it the call needs {fixed} input tokens, more than the {max_input_tokens} "
            "allowed (LLMOPS_MAX_INPUT_TOKENS): shorten the question"
        )
    room = max_input_tokens - fixed
    kept: list[str] = []
    used = 0
    for context in contexts:
        tokens = count_tokens(context) + per_context_tokens
        if used + tokens > room:
            break
        kept.append(context)
        used += tokens
    truncated = False
    if not kept and contexts and room > per_context_tokens:
        prefix = _longest_prefix(contexts[0], room - per_context_tokens, count_tokens)
        if prefix:
            kept, used, truncated = [prefix], count_tokens(prefix) + per_context_tokens, True
    dropped = len(contexts) - len(kept)
    return FittedContext(
        contexts=kept,
        trimmed=truncated or dropped > 0,
        dropped=dropped,
        input_tokens=fixed + used,
        truncated=truncated,
    )
