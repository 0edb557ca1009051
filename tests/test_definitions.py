"""The one Definitions object: asset groups, the reindex job, the LanceDB write pool."""

import shutil
from pathlib import Path

import dagster as dg

from pipelines.definitions import defs
from tests.conftest import PROJECT_ROOT


def test_asset_groups_and_reindex_job():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == {
        "source_documents": "corpus",
        "document_chunks": "corpus",
        "chunk_embeddings": "index",
    }
    job = defs.resolve_job_def("reindex")
    assert job.executor_def.name == "in_process"
    assert {k.to_user_string() for k in job.asset_layer.asset_graph.get_all_asset_keys()} == set(
        groups
    )


def test_lancedb_writes_share_a_pool_of_limit_one(tmp_path: Path):
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("chunk_embeddings")).pools == {"lancedb_write"}
    shutil.copy(PROJECT_ROOT / "dagster.yaml", tmp_path)
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1


def test_sensor_targets_reindex():
    sensor = defs.resolve_sensor_def("documents_changed")
    assert sensor.job_name == "reindex"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
