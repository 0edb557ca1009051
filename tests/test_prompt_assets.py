"""The prompt_versions asset and the new_prompt_version sensor, on real files and SQLite."""

from pathlib import Path

import dagster as dg
import pytest

from assets.prompts import prompt_versions
from pipelines.sensors import new_prompt_version
from resources.metadata_store import MetadataStore
from tests.support.records import VALID


@pytest.fixture
def prompts_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "answer.yaml").write_text(VALID)
    monkeypatch.setenv("LLMOPS_PROMPTS_DIR", str(folder))
    return folder


def _materialize(metadata) -> dict:
    result = dg.materialize(
        [prompt_versions], resources={"metadata_store": MetadataStore(url=metadata.url)}
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("prompt_versions")
    return {key: value.value for key, value in materialization.metadata.items()}


def test_asset_registers_new_content_once(prompts_dir, metadata):
    first = _materialize(metadata)
    assert first["new_versions"] == 1
    assert "| answer |" in first["labels"]
    assert _materialize(metadata)["new_versions"] == 0
    (prompts_dir / "answer.yaml").write_text(VALID.replace("only.", "only!"))
    third = _materialize(metadata)
    assert third["new_versions"] == 1
    assert third["added"][0].endswith("(candidate)")
    assert len(metadata.prompts.versions("answer")) == 2


def _tick(cursor: str | None):
    with dg.instance_for_test() as instance:
        return new_prompt_version(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_sensor_requests_registration_only_for_new_content(prompts_dir):
    first = _tick(None)
    assert isinstance(first, dg.SensorResult)
    assert isinstance(_tick(first.cursor), dg.SkipReason)
    (prompts_dir / "answer.yaml").write_text("# only a comment changed\n" + VALID)
    assert isinstance(_tick(first.cursor), dg.SkipReason)
    (prompts_dir / "answer.yaml").write_text(VALID.replace("only.", "only!"))
    changed = _tick(first.cursor)
    assert isinstance(changed, dg.SensorResult)
    assert changed.cursor != first.cursor


def test_sensor_skips_invalid_files_with_the_error(prompts_dir):
    (prompts_dir / "answer.yaml").write_text(VALID.replace("{context}", ""))
    result = _tick(None)
    assert isinstance(result, dg.SkipReason)
    assert "lacks the variable(s) context" in result.skip_message
