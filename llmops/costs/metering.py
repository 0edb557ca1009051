"""Every LLM call through the daily budgets and into the usage ledger, whatever its purpose.

Answers, audits, evaluation answers and judge calls all go through `metered_complete`, so a
budget stops all of them alike and the ledger says what each purpose cost.

A call first reserves its worst case (its input tokens plus every output token it may use, at
the model's price) in the metadata store, in the same transaction that checks the global
budget (`LLMOPS_DAILY_BUDGET_USD`) and the budget of the store's API key against what is
charged and held today. Concurrent calls, in threads, processes or replicas, therefore cannot
pass a budget together: each sees what the others hold. After the call the reservation is
settled to the real cost; a call that fails releases it; the reservation of a process that dies
mid-call expires once the longest call the client could still be making is over.
"""

from collections.abc import Sequence
from contextlib import suppress
from datetime import timedelta

from llmops.costs.budget import (
    BudgetExceededError,
    BudgetLimits,
    check_daily_budget,
    check_key_budget,
)
from llmops.costs.pricing import cost
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import DaySpend, MetadataStoreError, UsageRecord
from resources.llm import Completion, LLMClient, Message

RESERVATION_MARGIN = timedelta(minutes=1)  # beyond the call's own worst-case duration


def metered_complete(
    llm: LLMClient,
    messages: Sequence[Message],
    input_tokens: int,
    max_output_tokens: int,
    temperature: float,
    store: MetadataClient,
    limits: BudgetLimits,
    purpose: str,
    prompt_version: str | None = None,
    query_id: str | None = None,
) -> tuple[Completion, float]:
    """Call the LLM if today's budgets allow its worst case; returns the completion and its cost.

    A refused call is recorded with cost 0 and raises BudgetExceededError (KeyBudgetExceededError
    for the API key's own budget): nothing is charged and the model is not called.
    """
    model = llm.model_id
    worst_case = cost(model, input_tokens, max_output_tokens)

    def check(spend: DaySpend) -> None:
        check_daily_budget(spend.total_usd, worst_case, limits)
        if spend.api_key_id is not None:
            check_key_budget(spend.api_key_id, spend.key_usd, worst_case, spend.key_budget_usd)

    try:
        reservation = store.usage.reserve(
            model,
            purpose,
            worst_case,
            check,
            ttl=timedelta(seconds=llm.longest_call_s) + RESERVATION_MARGIN,
            shared_budget=limits.daily_budget_usd is not None,
        )
    except BudgetExceededError as exc:
        store.usage.record(
            UsageRecord(
                model=model,
                purpose=purpose,
                input_tokens=input_tokens,
                output_tokens=0,
                cost_usd=0.0,
                status="refused",
                prompt_version=prompt_version,
                query_id=query_id,
                detail=str(exc),
            )
        )
        raise
    try:
        completion = llm.complete(messages, max_output_tokens, temperature)
        spent = cost(completion.model, completion.input_tokens, completion.output_tokens)
    except BaseException:
        with suppress(MetadataStoreError):  # then the reservation expires instead
            store.usage.release(reservation)
        raise
    store.usage.settle(
        reservation,
        UsageRecord(
            model=completion.model,
            purpose=purpose,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=spent,
            prompt_version=prompt_version,
            query_id=query_id,
        ),
    )
    return completion, spent
