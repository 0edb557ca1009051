"""The one Definitions object: asset groups, the reindex job, the LanceDB write pool."""

import shutil
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from tests.support.files import PROJECT_ROOT


def test_asset_groups_and_reindex_job():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "source_documents": "corpus",
        "document_chunks": "corpus",
        "chunk_embeddings": "index",
        "chunk_embedding_buckets": "index",
        "production_context_index": "index",
        "prompt_versions": "prompts",
        "eval_dataset": "evaluation",
        "eval_answers": "evaluation",
        "eval_scores": "evaluation",
        "judge_calibration": "evaluation",
        "feedback_summary": "monitoring",
        "feedback_eval_candidates": "monitoring",
        "cost_report": "monitoring",
        "query_log": "monitoring",
        "query_embeddings": "monitoring",
        "embedding_drift_report": "monitoring",
        "guardrail_report": "monitoring",
        "benign_anchors": "guardrails",
        "context_versions": "context",
        "context_experiments": "context",
    }
    for name in ("eval_dataset", "eval_answers", "eval_scores"):
        assert graph.get(dg.AssetKey(name)).partitions_def.name == "prompt_versions"
    job = defs.resolve_job_def("reindex")
    assert job.executor_def.name == "in_process"
    assert {k.to_user_string() for k in job.asset_layer.asset_graph.get_all_asset_keys()} == {
        "source_documents",
        "document_chunks",
        "chunk_embeddings",
        "production_context_index",
        "benign_anchors",
    }


def test_lancedb_writes_share_a_pool_of_limit_one(tmp_path: Path):
    graph = defs.resolve_asset_graph()
    for name in (
        "chunk_embeddings",
        "production_context_index",
        "context_experiments",
        "query_embeddings",
        "embedding_drift_report",
        "benign_anchors",
    ):
        assert graph.get(dg.AssetKey(name)).pools == {"lancedb_write"}
    # bucket runs write only their own staging tables, so they run in parallel
    assert not graph.get(dg.AssetKey("chunk_embedding_buckets")).pools
    shutil.copy(PROJECT_ROOT / "pipelines" / "dagster.yaml", tmp_path)
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


@pytest.mark.parametrize(
    ("sensor", "job"),
    [
        ("documents_changed", "reindex"),
        ("new_prompt_version", "register_prompts"),
        ("evaluate_new_candidate", "evaluate"),
        ("evaluate_after_reindex", "evaluate"),
        ("negative_feedback", "propose_eval_cases"),
        ("drift_detected", "evaluate"),
    ],
)
def test_sensors_target_their_jobs(sensor, job):
    definition = defs.resolve_sensor_def(sensor)
    assert definition.job_name == job
    assert definition.default_status == dg.DefaultSensorStatus.RUNNING


def test_gate_is_a_blocking_check_and_evaluation_runs_nightly():
    [spec] = defs.resolve_assets_def("eval_scores").check_specs
    assert spec.name == "promotion_gate"
    assert spec.blocking is True
    schedule = defs.resolve_schedule_def("nightly_evaluation")
    assert schedule.job_name == "evaluate"
    assert schedule.cron_schedule == "0 2 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_cost_report_and_feedback_rates_run_daily_with_the_budget_check():
    schedule = defs.resolve_schedule_def("daily_monitoring")
    assert schedule.cron_schedule == "0 3 * * *"
    job = defs.resolve_job_def("monitoring")
    keys = {k.to_user_string() for k in job.asset_layer.asset_graph.get_all_asset_keys()}
    assert keys == {"cost_report", "feedback_summary", "guardrail_report"}
    [check] = defs.resolve_assets_def("cost_report").check_specs
    assert check.name == "budget"


def test_drift_check_runs_daily_on_the_day_that_ended():
    schedule = defs.resolve_schedule_def("daily_drift_check")
    assert schedule.job_name == "drift"
    assert schedule.cron_schedule == "30 3 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 29, 3, 30, tzinfo=UTC),
        repository_def=defs.get_repository_def(),
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-28"
    [check] = defs.resolve_assets_def("embedding_drift_report").check_specs
    assert check.name == "semantic_drift"
