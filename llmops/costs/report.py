"""What the LLM calls cost: spend and tokens from the usage ledger, and where they stand against
the budget.

Pure functions over `UsageRecord`s and the date taken as today, so the `cost_report` asset, the
CLI and the tests share one arithmetic. Days are UTC calendar days, as for the daily budget.
Refused calls (stopped by the budget before the model was called) cost nothing and used no
tokens: they are counted, never added to spend or tokens.

| variable | default | meaning |
|---|---|---|
| `LLMOPS_DAILY_BUDGET_USD` | unset: no daily budget | today's spend is compared |
| `LLMOPS_MONTHLY_BUDGET_USD` | daily budget × days in month | the projected month end is compared |
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date

import pandas as pd

from llmops.costs.budget import optional_usd
from llmops.storage.metadata.records import UsageRecord

MONTHLY_BUDGET_ENV = "LLMOPS_MONTHLY_BUDGET_USD"
WARN_SHARE = 0.8
OVER_SHARE = 1.0
LEVELS = ("ok", "warn", "over")
NO_PROMPT_VERSION = "(none)"
# float sums such as 0.1 + 0.7 must reach a boundary they reach on paper
_SHARE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Spend:
    """Charged USD and tokens of one group of calls, and how many calls were refused."""

    usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    refused: int = 0

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class CostReport:
    """Spend over the records given, broken down per UTC day, model, prompt version and purpose.

    `month_to_date_usd` sums the charged calls from the first of `today`'s month through
    `today`; `projected_month_usd` extrapolates it linearly: month-to-date ÷ days elapsed
    (today included) × days in the month.
    """

    today: date
    total: Spend
    by_day: dict[date, Spend]
    by_model: dict[str, Spend]
    by_prompt_version: dict[str, Spend]
    by_purpose: dict[str, Spend]
    today_usd: float
    month_to_date_usd: float
    projected_month_usd: float
    days_elapsed: int
    days_in_month: int


@dataclass(frozen=True)
class BudgetCheck:
    """One spend against one budget; `share` is None when there is no budget."""

    name: str
    spent_usd: float
    budget_usd: float | None
    share: float | None
    level: str
    reason: str


@dataclass(frozen=True)
class BudgetStatus:
    """Today's spend against the daily budget and the projected month against the monthly one;
    `level` is the worse of the two."""

    level: str
    reason: str
    daily: BudgetCheck
    monthly: BudgetCheck

    @property
    def checks(self) -> tuple[BudgetCheck, BudgetCheck]:
        return (self.daily, self.monthly)


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _frame(records: Iterable[UsageRecord]) -> pd.DataFrame:
    """One row per call; refused calls keep their count but carry no cost and no tokens."""
    rows = [
        {
            "day": r.created_at.astimezone(UTC).date(),
            "model": r.model,
            "prompt_version": r.prompt_version or NO_PROMPT_VERSION,
            "purpose": r.purpose,
            "charged": r.status == "charged",
            "usd": r.cost_usd if r.status == "charged" else 0.0,
            "input_tokens": r.input_tokens if r.status == "charged" else 0,
            "output_tokens": r.output_tokens if r.status == "charged" else 0,
        }
        for r in records
    ]
    columns = ["day", "model", "prompt_version", "purpose", "charged", "usd"]
    frame = pd.DataFrame(rows, columns=[*columns, "input_tokens", "output_tokens"])
    frame["refused"] = ~frame["charged"].astype(bool)
    return frame


def _sums(frame: pd.DataFrame) -> pd.Series:
    return frame[["usd", "input_tokens", "output_tokens", "charged", "refused"]].sum()


def _spend(row: pd.Series) -> Spend:
    return Spend(
        usd=float(row["usd"]),
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        calls=int(row["charged"]),
        refused=int(row["refused"]),
    )


def _by(frame: pd.DataFrame, key: str) -> dict:
    grouped = frame.groupby(key, sort=True)[
        ["usd", "input_tokens", "output_tokens", "charged", "refused"]
    ].sum()
    return {name: _spend(row) for name, row in grouped.iterrows()}


def cost_report(records: Iterable[UsageRecord], today: date) -> CostReport:
    """The cost report of `records` as seen on `today` (a UTC date)."""
    frame = _frame(records)
    by_day = _by(frame, "day")
    month_start = today.replace(day=1)
    month_to_date = float(sum(s.usd for d, s in by_day.items() if month_start <= d <= today))
    total_days = days_in_month(today)
    return CostReport(
        today=today,
        total=_spend(_sums(frame)),
        by_day=by_day,
        by_model=_by(frame, "model"),
        by_prompt_version=_by(frame, "prompt_version"),
        by_purpose=_by(frame, "purpose"),
        today_usd=by_day.get(today, Spend()).usd,
        month_to_date_usd=month_to_date,
        projected_month_usd=month_to_date / today.day * total_days,
        days_elapsed=today.day,
        days_in_month=total_days,
    )


def _check(name: str, spent: float, budget: float | None) -> BudgetCheck:
    """`ok` below 80% of `budget`, `warn` from 80%, `over` from 100%; a budget of 0 is over
    as soon as anything is spent."""
    if budget is None:
        return BudgetCheck(name, spent, None, None, "ok", f"no {name} budget set")
    share = spent / budget if budget > 0 else (math.inf if spent > 0 else 0.0)
    if share >= OVER_SHARE - _SHARE_TOLERANCE:
        level = "over"
    elif share >= WARN_SHARE - _SHARE_TOLERANCE:
        level = "warn"
    else:
        level = "ok"
    what = "spent today" if name == "daily" else "projected for the month"
    return BudgetCheck(
        name,
        spent,
        budget,
        share,
        level,
        f"{_money(spent)} {what} is {_percent(share)} of the {name} budget {_money(budget)}",
    )


def budget_status(
    report: CostReport, daily_budget_usd: float | None, monthly_budget_usd: float | None = None
) -> BudgetStatus:
    """Today's spend against `daily_budget_usd` and the projected month-end spend against
    `monthly_budget_usd` (None: the daily budget × days in the month; no budget at all: `ok`)."""
    if monthly_budget_usd is None and daily_budget_usd is not None:
        monthly_budget_usd = daily_budget_usd * report.days_in_month
    daily = _check("daily", report.today_usd, daily_budget_usd)
    monthly = _check("monthly", report.projected_month_usd, monthly_budget_usd)
    if daily_budget_usd is None and monthly_budget_usd is None:
        return BudgetStatus("ok", "no budget set", daily, monthly)
    level = max(daily.level, monthly.level, key=LEVELS.index)
    reason = "; ".join(c.reason for c in (daily, monthly) if c.budget_usd is not None)
    return BudgetStatus(level, reason, daily, monthly)


def monthly_budget_from_env() -> float | None:
    """`LLMOPS_MONTHLY_BUDGET_USD`, None when unset; a bad value raises InputError."""
    return optional_usd(MONTHLY_BUDGET_ENV)


def _money(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.6f}"


def _percent(share: float) -> str:
    return "∞%" if math.isinf(share) else f"{share:.0%}"


def spend_table(title: str, breakdown: Mapping[object, Spend]) -> str:
    """One breakdown of a report as a Markdown table, in key order."""
    header = f"| {title} | USD | input tokens | output tokens | calls | refused |"
    rows = [
        f"| {key} | {_money(s.usd)} | {s.input_tokens:,} | {s.output_tokens:,} | {s.calls:,} "
        f"| {s.refused:,} |"
        for key, s in breakdown.items()
    ]
    if not rows:
        rows = ["| (no calls) | | | | | |"]
    return "\n".join([header, "|---|---|---|---|---|---|", *rows])


def summary_markdown(report: CostReport, status: BudgetStatus | None = None) -> str:
    """Today, month to date, projection and (given `status`) the budget levels."""
    lines = [
        f"### Cost on {report.today.isoformat()} (UTC)",
        "",
        "| | USD |",
        "|---|---|",
        f"| today | {_money(report.today_usd)} |",
        f"| month to date ({report.days_elapsed} of {report.days_in_month} days) "
        f"| {_money(report.month_to_date_usd)} |",
        f"| projected month end | {_money(report.projected_month_usd)} |",
        "",
        f"{report.total.refused:,} calls refused by the budget (not charged).",
    ]
    if status is not None:
        lines += ["", "| budget | spend | limit | share | level |", "|---|---|---|---|---|"]
        for c in status.checks:
            limit = _money(c.budget_usd) if c.budget_usd is not None else "not set"
            share = _percent(c.share) if c.share is not None else ""
            lines.append(f"| {c.name} | {_money(c.spent_usd)} | {limit} | {share} | {c.level} |")
    return "\n".join(lines)
