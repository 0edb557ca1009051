"""Every LLM call through the daily budget and into the usage ledger, whatever its purpose.

Answers, audits, evaluation answers and judge calls all go through `metered_complete`, so a
budget stops all of them alike and the ledger says what each purpose cost.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from llmops.budget import BudgetExceededError, BudgetLimits, check_daily_budget
from llmops.pricing import cost
from resources.llm import Completion, LLMClient, Message
from resources.metadata_store import MetadataStore, UsageRecord


def metered_complete(
    llm: LLMClient,
    messages: Sequence[Message],
    input_tokens: int,
    max_output_tokens: int,
    temperature: float,
    store: MetadataStore,
    limits: BudgetLimits,
    purpose: str,
    prompt_version: str | None = None,
    query_id: str | None = None,
) -> tuple[Completion, float]:
    """Call the LLM if today's budget allows its worst case; returns the completion and its cost.

    A refused call is recorded with cost 0 and raises BudgetExceededError: nothing is charged.
    """
    model = llm.model_id
    worst_case = cost(model, input_tokens, max_output_tokens)
    try:
        check_daily_budget(store.spend_on(datetime.now(UTC).date()), worst_case, limits)
    except BudgetExceededError as exc:
        store.record_usage(
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
    completion = llm.complete(messages, max_output_tokens, temperature)
    spent = cost(completion.model, completion.input_tokens, completion.output_tokens)
    store.record_usage(
        UsageRecord(
            model=completion.model,
            purpose=purpose,
            input_tokens=completion.input_tokens,
            output_tokens=completion.output_tokens,
            cost_usd=spent,
            prompt_version=prompt_version,
            query_id=query_id,
        )
    )
    return completion, spent
