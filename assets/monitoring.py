"""Monitoring stage: what the LLM calls cost this month, and a budget check on it.

`cost_report` reads the usage ledger from the first of the current UTC month, so every number
and table it shows is month to date; its floats plot spend over materializations in the UI.
"""

from datetime import UTC, datetime

import dagster as dg

from llmops.costs import report as costs
from llmops.costs.budget import BudgetLimits
from llmops.costs.report import BudgetStatus, spend_table
from resources.metadata_store import MetadataStore

BUDGET = "budget"
PURPOSES = ("answer", "audit", "eval", "judge")  # always plotted, 0 when unused this month
_SEVERITY = {"warn": dg.AssetCheckSeverity.WARN, "over": dg.AssetCheckSeverity.ERROR}


@dg.asset(
    group_name="monitoring",
    check_specs=[
        dg.AssetCheckSpec(
            BUDGET,
            asset="cost_report",
            description="Today's spend against LLMOPS_DAILY_BUDGET_USD and the projected "
            "month-end against LLMOPS_MONTHLY_BUDGET_USD (default daily × days in the month): "
            "warns from 80%, fails from 100%.",
        )
    ],
)
def cost_report(metadata_store: MetadataStore) -> dg.MaterializeResult:
    """Month-to-date spend and tokens per day, model, prompt version and purpose, projected to
    the month end, from the usage ledger."""
    today = datetime.now(UTC).date()
    month_start = datetime(today.year, today.month, 1, tzinfo=UTC)
    report = costs.cost_report(metadata_store.get_client().usage.find(since=month_start), today)
    status = costs.budget_status(
        report, BudgetLimits.from_env().daily_budget_usd, costs.monthly_budget_from_env()
    )
    purposes = dict.fromkeys(PURPOSES, 0.0) | {p: s.usd for p, s in report.by_purpose.items()}
    return dg.MaterializeResult(
        metadata={
            "today_usd": report.today_usd,
            "month_to_date_usd": report.month_to_date_usd,
            "projected_month_usd": report.projected_month_usd,
            "tokens": float(report.total.tokens),
            "input_tokens": float(report.total.input_tokens),
            "output_tokens": float(report.total.output_tokens),
            "calls": float(report.total.calls),
            "refused_calls": float(report.total.refused),
            **{f"spend_{purpose}_usd": usd for purpose, usd in purposes.items()},
            "summary": dg.MetadataValue.md(costs.summary_markdown(report, status)),
            "by_day": dg.MetadataValue.md(spend_table("day (UTC)", report.by_day)),
            "by_model": dg.MetadataValue.md(spend_table("model", report.by_model)),
            "by_prompt_version": dg.MetadataValue.md(
                spend_table("prompt version", report.by_prompt_version)
            ),
            "by_purpose": dg.MetadataValue.md(spend_table("purpose", report.by_purpose)),
        },
        check_results=[_budget_check(status)],
    )


def _budget_check(status: BudgetStatus) -> dg.AssetCheckResult:
    """Passed below 80% of every budget; WARN from 80%, ERROR from 100%."""
    metadata: dict[str, float | str] = {"level": status.level}
    for check in status.checks:
        metadata[f"{check.name}_level"] = check.level
        metadata[f"{check.name}_spend_usd"] = check.spent_usd
        if check.budget_usd is not None:
            metadata[f"{check.name}_budget_usd"] = check.budget_usd
        if check.share is not None and check.share != float("inf"):
            metadata[f"{check.name}_share"] = check.share
    return dg.AssetCheckResult(
        check_name=BUDGET,
        passed=status.level == "ok",
        severity=_SEVERITY.get(status.level, dg.AssetCheckSeverity.ERROR),
        description=status.reason,
        metadata=metadata,
    )
