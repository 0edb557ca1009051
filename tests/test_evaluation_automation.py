"""The nightly schedule and the evaluation sensors request one run per version to evaluate.

Ticks are evaluated with `evaluate_tick`, as the Dagster daemon does: that also checks every
requested partition key against the `evaluate` job's dynamic partitions.
"""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from llmops.prompts.registry import CANDIDATE, PRODUCTION, promote
from llmops.storage.metadata.client import MetadataClient
from pipelines.definitions import defs
from pipelines.schedules import nightly_evaluation
from pipelines.sensors import evaluate_after_reindex, evaluate_new_candidate, production_keys
from tests.support.records import VALID, register_prompts

NIGHT = datetime(2026, 11, 28, 2, tzinfo=UTC)
CONCISE = VALID.replace("name: answer", "name: answer-concise").replace(
    "Answer from the handbook.", "Answer in one sentence."
)


@pytest.fixture
def meta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MetadataClient:
    """The metadata store the schedule and sensors read, found through the environment."""
    url = f"sqlite:///{tmp_path / 'llmops.db'}"
    monkeypatch.setenv("LLMOPS_HOME", str(tmp_path))
    monkeypatch.setenv("LLMOPS_DATABASE_URL", url)
    return MetadataClient(url=url)


@pytest.fixture
def two_prompts(tmp_path: Path, meta: MetadataClient) -> dict[str, str]:
    """Two prompts registered once each, so both versions are production; name -> version."""
    versions = register_prompts(
        tmp_path / "prompts", meta, {"answer.yaml": VALID, "concise.yaml": CONCISE}
    )
    assert set(versions) == {"answer", "answer-concise"}
    assert versions["answer"] != versions["answer-concise"]
    return versions


def _production(versions: dict[str, str]) -> list[str]:
    return sorted(f"{name}@{version}" for name, version in versions.items())


def _add_candidate(tmp_path: Path, meta: MetadataClient) -> str:
    """Register a second content of `answer`; returns its version (labelled candidate)."""
    edited = VALID.replace("handbook only.", "handbook only!")
    added = register_prompts(tmp_path / "prompts", meta, {"answer.yaml": edited})
    assert list(added) == ["answer"]
    assert meta.prompts.label("answer", CANDIDATE) == added["answer"]
    return added["answer"]


def _added_keys(requests) -> list[str]:
    keys: list[str] = []
    for request in requests:
        assert isinstance(request, dg.AddDynamicPartitionsRequest)
        assert request.partitions_def_name == "prompt_versions"
        keys += request.partition_keys
    return keys


def _check_targets_evaluate(run_requests) -> None:
    for request in run_requests:
        assert request.job_name in (None, "evaluate")


# --- nightly_evaluation ----------------------------------------------------------------------


def _nightly(instance: dg.DagsterInstance, when: datetime = NIGHT):
    context = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    return nightly_evaluation.evaluate_tick(context)


def test_nightly_evaluation_targets_the_evaluate_job_at_two_utc():
    assert nightly_evaluation.job_name == "evaluate"
    assert nightly_evaluation.cron_schedule == "0 2 * * *"
    assert nightly_evaluation.execution_timezone == "UTC"


def test_nightly_evaluation_requests_every_production_version(tmp_path, meta, two_prompts):
    candidate = _add_candidate(tmp_path, meta)
    expected = _production(two_prompts)

    with dg.instance_for_test() as instance:
        data = _nightly(instance)
        partitions = instance.get_dynamic_partitions("prompt_versions")

    keys = sorted(r.partition_key for r in data.run_requests)
    assert keys == expected
    assert f"answer@{candidate}" not in keys  # the candidate is not production
    _check_targets_evaluate(data.run_requests)
    for request in data.run_requests:
        assert request.run_key == f"nightly:2026-11-28:{request.partition_key}"
    # schedules cannot return dynamic partition requests: the keys must be added by the tick
    assert set(expected) <= set(partitions)


def test_nightly_run_keys_differ_from_night_to_night(meta, two_prompts):
    with dg.instance_for_test() as instance:
        tonight = {r.run_key for r in _nightly(instance).run_requests}
        tomorrow = {
            r.run_key
            for r in _nightly(instance, datetime(2026, 11, 29, 2, tzinfo=UTC)).run_requests
        }
    assert len(tonight) == len(tomorrow) == 2
    assert not tonight & tomorrow
    assert all("2026-11-29" in key for key in tomorrow)


def test_nightly_evaluation_skips_without_prompts(meta):
    with dg.instance_for_test() as instance:
        data = _nightly(instance)
    assert data.run_requests == []
    assert "no prompt is registered" in data.skip_message


# --- evaluate_new_candidate ------------------------------------------------------------------


def _sensor_context(instance: dg.DagsterInstance, cursor: str | None = None):
    """Like the daemon's: with the instance's ref, needed to check dynamic partition keys."""
    return dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, definitions=defs
    )


def _candidate_tick():
    with dg.instance_for_test() as instance:
        return evaluate_new_candidate.evaluate_tick(_sensor_context(instance))


def test_no_candidate_no_request(meta, two_prompts):
    data = _candidate_tick()
    assert data.run_requests == []
    assert data.skip_message
    assert _added_keys(data.dynamic_partitions_requests) == []


def test_new_candidate_is_evaluated_once_then_not_after_promotion(tmp_path, meta, two_prompts):
    assert evaluate_new_candidate.job_name == "evaluate"
    candidate = _add_candidate(tmp_path, meta)
    key = f"answer@{candidate}"

    data = _candidate_tick()
    [request] = data.run_requests
    _check_targets_evaluate(data.run_requests)
    assert request.partition_key == key
    assert request.run_key == f"candidate:{key}"
    assert _added_keys(data.dynamic_partitions_requests) == [key]
    # the same candidate keeps the same run key, so Dagster launches its run only once
    assert [r.run_key for r in _candidate_tick().run_requests] == [request.run_key]

    promote(meta, "answer", candidate, "scored better")
    assert meta.prompts.labels("answer") == {PRODUCTION: candidate, CANDIDATE: candidate}
    assert _candidate_tick().run_requests == []


# --- evaluate_after_reindex ------------------------------------------------------------------


def _materialize_embeddings(instance: dg.DagsterInstance, embedded: float, deleted: float) -> int:
    """Report a runless `chunk_embeddings` materialization like a reindex; its storage id."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "chunk_embeddings", metadata={"embedded": embedded, "deleted": deleted}
        )
    )
    [record] = instance.fetch_materializations(
        dg.AssetKey("chunk_embeddings"), limit=1, ascending=False
    ).records
    return record.storage_id


def _reindex_tick(instance: dg.DagsterInstance, cursor: str | None = None):
    return evaluate_after_reindex.evaluate_tick(_sensor_context(instance, cursor))


def test_evaluate_after_reindex_watches_chunk_embeddings():
    assert isinstance(evaluate_after_reindex, dg.AssetSensorDefinition)
    assert evaluate_after_reindex.asset_key == dg.AssetKey("chunk_embeddings")
    assert evaluate_after_reindex.job_name == "evaluate"


def test_reindex_requests_one_run_per_production_version(tmp_path, meta, two_prompts):
    _add_candidate(tmp_path, meta)
    expected = _production(two_prompts)
    assert sorted(production_keys(meta)) == expected
    with dg.instance_for_test() as instance:
        _check_reindex_runs(instance, expected)


def _check_reindex_runs(instance: dg.DagsterInstance, expected: list[str]) -> None:
    storage_id = _materialize_embeddings(instance, embedded=3.0, deleted=0.0)

    data = _reindex_tick(instance)

    assert sorted(r.partition_key for r in data.run_requests) == expected
    _check_targets_evaluate(data.run_requests)
    assert sorted(_added_keys(data.dynamic_partitions_requests)) == expected
    assert data.cursor == str(storage_id)
    run_keys = sorted(r.run_key for r in data.run_requests)
    assert len(set(run_keys)) == 2
    assert all(key.startswith("reindex:") for key in run_keys)
    # re-evaluating the same materialization requests the same runs (Dagster dedups by run key)
    assert sorted(r.run_key for r in _reindex_tick(instance).run_requests) == run_keys

    # with the cursor, that materialization is not evaluated again; the next one is, anew
    again = _reindex_tick(instance, cursor=data.cursor)
    assert again.run_requests == []
    assert "No new materialization" in again.skip_message
    _materialize_embeddings(instance, embedded=0.0, deleted=2.0)
    later = _reindex_tick(instance, cursor=data.cursor)
    assert sorted(r.partition_key for r in later.run_requests) == expected
    assert not {r.run_key for r in later.run_requests} & set(run_keys)


def test_reindex_that_changed_nothing_skips(meta, two_prompts):
    with dg.instance_for_test() as instance:
        storage_id = _materialize_embeddings(instance, embedded=0.0, deleted=0.0)
        data = _reindex_tick(instance)

    assert data.run_requests == []
    assert "changed nothing" in data.skip_message
    assert data.cursor == str(storage_id)


def test_reindex_without_materialization_skips(meta, two_prompts):
    with dg.instance_for_test() as instance:
        data = _reindex_tick(instance)
    assert data.run_requests == []
    assert "No new materialization" in data.skip_message
