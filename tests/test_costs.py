"""Cost report arithmetic from the usage ledger, budget levels, and the `cost_report` asset with
its `budget` check on a real SQLite metadata store."""

from datetime import UTC, date, datetime, timedelta, timezone

import dagster as dg
import pytest

from assets.monitoring import cost_report as cost_report_asset
from llmops.costs.report import (
    NO_PROMPT_VERSION,
    Spend,
    budget_status,
    cost_report,
    monthly_budget_from_env,
    spend_table,
    summary_markdown,
)
from llmops.errors import InputError
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import UsageRecord
from resources.metadata_store import MetadataStore

TODAY = date(2025, 6, 10)  # 10 days into a 30-day month


def usage(
    when: datetime,
    usd: float,
    model: str = "gpt-4o-mini",
    purpose: str = "answer",
    prompt_version: str | None = "v1",
    tokens: tuple[int, int] = (100, 10),
    status: str = "charged",
) -> UsageRecord:
    return UsageRecord(
        model=model,
        purpose=purpose,
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        cost_usd=usd,
        status=status,
        prompt_version=prompt_version,
        created_at=when,
    )


def at(day: date, hour: int = 12, minute: int = 0, tz: timezone = UTC) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


# Costs are sums of powers of two, so every total below is exact in binary floating point.
LEDGER = [
    usage(at(date(2025, 5, 31), 23), 1.0, purpose="eval", tokens=(4000, 400)),
    usage(at(date(2025, 6, 9), 10), 0.25, tokens=(1000, 200)),
    usage(
        at(date(2025, 6, 9), 23, 59),
        0.5,
        model="gpt-4o",
        purpose="judge",
        prompt_version=None,
        tokens=(2000, 100),
    ),
    usage(at(TODAY, 0), 0.125, prompt_version="v2", tokens=(500, 50)),
    # 01:00 at UTC+2 on the 11th is 23:00 UTC on the 10th: today
    usage(
        at(date(2025, 6, 11), 1, tz=timezone(timedelta(hours=2))),
        0.0625,
        purpose="eval",
        tokens=(100, 10),
    ),
    usage(
        at(TODAY, 15),
        0.0,
        model="gpt-4o",
        prompt_version="v2",
        tokens=(3000, 0),
        status="refused",
    ),
]


def test_spend_and_tokens_per_day_model_prompt_version_and_purpose():
    report = cost_report(LEDGER, TODAY)

    assert report.by_day == {
        date(2025, 5, 31): Spend(1.0, 4000, 400, calls=1),
        date(2025, 6, 9): Spend(0.75, 3000, 300, calls=2),
        TODAY: Spend(0.1875, 600, 60, calls=2, refused=1),
    }
    assert report.by_model == {
        "gpt-4o": Spend(0.5, 2000, 100, calls=1, refused=1),
        "gpt-4o-mini": Spend(1.4375, 5600, 660, calls=4),
    }
    assert report.by_prompt_version == {
        NO_PROMPT_VERSION: Spend(0.5, 2000, 100, calls=1),
        "v1": Spend(1.3125, 5100, 610, calls=3),
        "v2": Spend(0.125, 500, 50, calls=1, refused=1),
    }
    assert report.by_purpose == {
        "answer": Spend(0.375, 1500, 250, calls=2, refused=1),
        "eval": Spend(1.0625, 4100, 410, calls=2),
        "judge": Spend(0.5, 2000, 100, calls=1),
    }
    assert report.total == Spend(1.9375, 7600, 760, calls=5, refused=1)
    assert report.total.tokens == 8360


def test_today_month_to_date_and_projection_leave_out_last_month():
    report = cost_report(LEDGER, TODAY)

    assert report.today_usd == 0.1875
    assert report.month_to_date_usd == 0.9375  # 0.75 on the 9th + 0.1875 today, not May's 1.0
    assert (report.days_elapsed, report.days_in_month) == (10, 30)
    assert report.projected_month_usd == 0.9375 / 10 * 30


def test_refused_calls_are_counted_but_never_spend_or_tokens():
    refused = usage(at(TODAY), 5.0, tokens=(9000, 900), status="refused")
    report = cost_report([usage(at(TODAY), 0.5), refused, refused], TODAY)

    assert report.today_usd == 0.5
    assert report.month_to_date_usd == 0.5
    assert report.total == Spend(0.5, 100, 10, calls=1, refused=2)


@pytest.mark.parametrize(
    ("today", "month_to_date", "projected"),
    [
        (date(2025, 6, 10), 3.0, 9.0),  # 3 USD in 10 of 30 days
        (date(2025, 6, 30), 3.0, 3.0),  # the last day: the projection is what was spent
        (date(2024, 2, 1), 1.0, 29.0),  # leap February
        (date(2025, 1, 1), 0.0, 0.0),
    ],
)
def test_projection_is_month_to_date_per_day_elapsed_times_days_in_month(
    today, month_to_date, projected
):
    records = [usage(at(today.replace(day=1), 0), month_to_date)] if month_to_date else []
    report = cost_report(records, today)

    assert report.month_to_date_usd == month_to_date
    assert report.projected_month_usd == pytest.approx(projected, abs=1e-12)


def test_an_empty_ledger_is_a_report_of_zeros():
    report = cost_report([], TODAY)

    assert report.total == Spend()
    assert (report.today_usd, report.month_to_date_usd, report.projected_month_usd) == (0, 0, 0)
    assert report.by_day == report.by_model == report.by_purpose == {}
    assert "(no calls)" in spend_table("model", report.by_model)


@pytest.mark.parametrize(
    ("spent", "level"),
    [(0.79, "ok"), (0.8, "warn"), (0.99, "warn"), (1.0, "over"), (1.5, "over")],
)
def test_daily_levels_at_80_and_100_percent(spent, level):
    report = cost_report([usage(at(TODAY), spent)], TODAY)
    status = budget_status(report, daily_budget_usd=1.0, monthly_budget_usd=1000.0)

    assert status.daily.level == level
    assert status.daily.share == pytest.approx(spent)
    assert status.monthly.level == "ok"
    assert status.level == level


def test_a_float_sum_that_reaches_80_percent_on_paper_warns():
    records = [usage(at(TODAY), 0.1), usage(at(TODAY), 0.7)]  # 0.7999999999999999 in floats
    report = cost_report(records, TODAY)

    assert report.today_usd < 0.8
    assert budget_status(report, daily_budget_usd=1.0).daily.level == "warn"


@pytest.mark.parametrize(
    ("month_to_date", "level"), [(39.5, "ok"), (40.0, "warn"), (49.5, "warn"), (50.0, "over")]
)
def test_projected_month_levels_against_the_monthly_budget(month_to_date, level):
    today = date(2025, 6, 15)  # half of June: the projection doubles month-to-date
    report = cost_report([usage(at(date(2025, 6, 1)), month_to_date)], today)
    status = budget_status(report, daily_budget_usd=None, monthly_budget_usd=100.0)

    assert report.projected_month_usd == 2 * month_to_date
    assert status.monthly.level == level
    assert status.daily.level == "ok"
    assert status.daily.reason == "no daily budget set"
    assert status.level == level


def test_monthly_budget_defaults_to_daily_times_days_in_month():
    # 12 USD spent on the 14th, nothing today: the day is fine, the month heads for 24 of 30
    report = cost_report([usage(at(date(2025, 6, 14)), 12.0)], date(2025, 6, 15))
    status = budget_status(report, daily_budget_usd=1.0)

    assert status.monthly.budget_usd == 30.0
    assert status.monthly.share == pytest.approx(0.8)
    assert (status.daily.level, status.monthly.level, status.level) == ("ok", "warn", "warn")
    assert "monthly budget $30.00" in status.reason


def test_the_worse_level_wins():
    report = cost_report([usage(at(TODAY), 2.0)], TODAY)  # 2 of 1 today, 6 of 1000 projected
    status = budget_status(report, daily_budget_usd=1.0, monthly_budget_usd=1000.0)

    assert (status.daily.level, status.monthly.level, status.level) == ("over", "ok", "over")


def test_no_budget_is_ok_whatever_was_spent():
    report = cost_report([usage(at(TODAY), 1e6)], TODAY)
    status = budget_status(report, daily_budget_usd=None)

    assert status.level == "ok"
    assert status.reason == "no budget set"
    assert status.daily.share is None
    assert status.monthly.budget_usd is None


def test_a_zero_budget_is_over_once_anything_is_spent():
    spent = cost_report([usage(at(TODAY), 0.01)], TODAY)
    idle = cost_report([usage(at(TODAY), 0.0, status="refused")], TODAY)

    assert budget_status(spent, daily_budget_usd=0.0).level == "over"
    assert budget_status(idle, daily_budget_usd=0.0).level == "ok"


def test_monthly_budget_from_env(monkeypatch):
    monkeypatch.delenv("LLMOPS_MONTHLY_BUDGET_USD", raising=False)
    assert monthly_budget_from_env() is None
    monkeypatch.setenv("LLMOPS_MONTHLY_BUDGET_USD", "250")
    assert monthly_budget_from_env() == 250.0
    monkeypatch.setenv("LLMOPS_MONTHLY_BUDGET_USD", "lots")
    with pytest.raises(InputError, match="LLMOPS_MONTHLY_BUDGET_USD"):
        monthly_budget_from_env()


def test_markdown_tables():
    report = cost_report(LEDGER, TODAY)
    status = budget_status(report, daily_budget_usd=0.2)

    assert "| gpt-4o | $0.500000 | 2,000 | 100 | 1 | 1 |" in spend_table("model", report.by_model)
    assert "| 2025-06-09 | $0.750000 | 3,000 | 300 | 2 | 0 |" in spend_table("day", report.by_day)
    summary = summary_markdown(report, status)
    assert "| projected month end | $2.81 |" in summary
    assert "| daily | $0.187500 | $0.200000 | 94% | warn |" in summary
    assert "1 calls refused" in summary


def _materialize(store: MetadataClient, monkeypatch, daily_budget: str | None):
    monkeypatch.delenv("LLMOPS_MONTHLY_BUDGET_USD", raising=False)
    if daily_budget is None:
        monkeypatch.delenv("LLMOPS_DAILY_BUDGET_USD", raising=False)
    else:
        monkeypatch.setenv("LLMOPS_DAILY_BUDGET_USD", daily_budget)
    result = dg.materialize(
        [cost_report_asset], resources={"metadata_store": MetadataStore(url=store.url)}
    )
    assert result.success
    metadata = result.asset_materializations_for_node("cost_report")[0].metadata
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "budget"
    return {k: v.value for k, v in metadata.items()}, check


@pytest.fixture
def ledger(metadata: MetadataClient) -> MetadataClient:
    """0.85 USD charged now (0.625 answer, 0.225 judge), one refused call, and last month."""
    now = datetime.now(UTC)
    metadata.usage.record(usage(now, 0.625, tokens=(1000, 100)))
    metadata.usage.record(usage(now, 0.225, model="gpt-4o", purpose="judge", tokens=(500, 50)))
    metadata.usage.record(usage(now, 0.0, tokens=(7000, 0), status="refused"))
    last_month = now.replace(day=1, hour=0, minute=0) - timedelta(days=2)
    metadata.usage.record(usage(last_month, 100.0, purpose="eval"))
    return metadata


def test_asset_reports_this_month_and_its_check_warns_from_80_percent(ledger, monkeypatch):
    values, check = _materialize(ledger, monkeypatch, daily_budget="1.0")

    assert values["today_usd"] == pytest.approx(0.85)
    assert values["month_to_date_usd"] == pytest.approx(0.85)  # last month's 100 USD left out
    today = datetime.now(UTC).date()
    assert values["projected_month_usd"] == pytest.approx(
        0.85 / today.day * cost_report([], today).days_in_month
    )
    assert values["tokens"] == 1650.0
    assert values["refused_calls"] == 1.0
    assert values["spend_answer_usd"] == 0.625
    assert values["spend_judge_usd"] == 0.225
    assert values["spend_eval_usd"] == 0.0
    assert values["spend_audit_usd"] == 0.0
    assert "| gpt-4o | $0.225000 | 500 | 50 | 1 | 0 |" in values["by_model"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    check_values = {k: v.value for k, v in check.metadata.items()}
    assert check_values["level"] == "warn"
    assert check_values["daily_level"] == "warn"
    assert check_values["daily_share"] == pytest.approx(0.85)


def test_asset_check_fails_with_error_from_100_percent(ledger, monkeypatch):
    _, check = _materialize(ledger, monkeypatch, daily_budget="0.80")

    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["daily_level"].value == "over"


def test_asset_check_passes_below_80_percent_and_without_a_budget(ledger, monkeypatch):
    _, below = _materialize(ledger, monkeypatch, daily_budget="10")
    _, unset = _materialize(ledger, monkeypatch, daily_budget=None)

    assert below.passed
    assert below.metadata["daily_share"].value == pytest.approx(0.085)
    assert unset.passed
    assert unset.description == "no budget set"
