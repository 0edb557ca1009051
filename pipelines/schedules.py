"""Schedules: the nightly evaluation of every production prompt, the daily monitoring and drift
check."""

import dagster as dg

from assets.prompts import PROMPT_VERSIONS
from llmops.config import Settings
from pipelines.jobs import drift_job, evaluate_job, monitoring_job
from pipelines.sensors import metadata_store_from_env, production_keys

SETTINGS = Settings.from_env()


@dg.schedule(
    job=evaluate_job,
    cron_schedule=SETTINGS.eval_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Evaluate every prompt's production version (LLMOPS_EVAL_CRON, default 02:00 UTC).",
)
def nightly_evaluation(context: dg.ScheduleEvaluationContext):
    keys = production_keys(metadata_store_from_env())
    if not keys:
        return dg.SkipReason("no prompt is registered yet")
    # A 1.13 schedule cannot return partition requests, so the keys are added here.
    context.instance.add_dynamic_partitions(PROMPT_VERSIONS.name, keys)
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return [dg.RunRequest(run_key=f"nightly:{day}:{k}", partition_key=k) for k in keys]


daily_monitoring = dg.ScheduleDefinition(
    name="daily_monitoring",
    job=monitoring_job,
    cron_schedule=SETTINGS.monitoring_cron,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Cost report with its budget check, feedback rates and the guardrail report "
    "(LLMOPS_MONITORING_CRON, default 03:00 UTC).",
)

# A daily-partitioned job: each tick runs the partition of the day that just ended.
daily_drift_check = dg.build_schedule_from_partitioned_job(
    drift_job,
    name="daily_drift_check",
    hour_of_day=3,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Semantic drift of yesterday's window of questions, at 03:30 UTC.",
)
