"""The one Definitions object: asset groups, the reindex job, the LanceDB write pool."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from pipelines.definitions import defs
from tests.conftest import PROJECT_ROOT


def test_asset_groups_and_reindex_job():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "source_documents": "corpus",
        "document_chunks": "corpus",
        "chunk_embeddings": "index",
        "prompt_versions": "prompts",
    }
    job = defs.resolve_job_def("reindex")
    assert job.executor_def.name == "in_process"
    assert {k.to_user_string() for k in job.asset_layer.asset_graph.get_all_asset_keys()} == {
        "source_documents",
        "document_chunks",
        "chunk_embeddings",
    }


def test_lancedb_writes_share_a_pool_of_limit_one(tmp_path: Path):
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("chunk_embeddings")).pools == {"lancedb_write"}
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path)
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


@pytest.mark.parametrize(
    ("sensor", "job"),
    [("documents_changed", "reindex"), ("new_prompt_version", "register_prompts")],
)
def test_sensors_target_their_jobs(sensor, job):
    definition = defs.resolve_sensor_def(sensor)
    assert definition.job_name == job
    assert definition.default_status == dg.DefaultSensorStatus.RUNNING
