"""Schedules: the nightly evaluation of every production prompt."""

import dagster as dg

from assets.prompts import PROMPT_VERSIONS
from pipelines.jobs import evaluate_job
from pipelines.sensors import _store, production_keys


@dg.schedule(
    job=evaluate_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Evaluate every prompt's production version at 02:00 UTC.",
)
def nightly_evaluation(context: dg.ScheduleEvaluationContext):
    keys = production_keys(_store())
    if not keys:
        return dg.SkipReason("no prompt is registered yet")
    day = context.scheduled_execution_time.strftime("%Y-%m-%d")
    return dg.ScheduleResult(
        run_requests=[dg.RunRequest(run_key=f"nightly:{day}:{k}", partition_key=k) for k in keys],
        dynamic_partitions_requests=[PROMPT_VERSIONS.build_add_request(keys)],
    )
