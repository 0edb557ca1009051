"""The documents_changed sensor requests a reindex on every change and never without one."""

from pathlib import Path

import dagster as dg
import pytest

from pipelines.sensors import documents_changed
from tests.support.files import write_docs


def _tick(cursor: str | None):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor)
        return documents_changed(context)


@pytest.fixture
def watched(docs: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LLMOPS_DOCS_DIR", str(docs))
    return docs


def test_first_tick_requests_a_reindex_then_nothing_without_change(watched):
    first = _tick(None)
    assert isinstance(first, dg.SensorResult)
    [request] = first.run_requests
    assert request.job_name in (None, "reindex")
    assert documents_changed.job_name == "reindex"
    second = _tick(first.cursor)
    assert isinstance(second, dg.SkipReason)
    assert "no document changed" in second.skip_message


@pytest.mark.parametrize("change", ["edit", "add", "delete"])
def test_change_requests_a_reindex_with_a_new_run_key(watched, change):
    before = _tick(None)
    if change == "edit":
        (watched / "leave.md").write_text("# Leave\n\n30 days now.\n")
    elif change == "add":
        write_docs(watched, {"new/policy.md": "# New\n\nA new policy."})
    else:
        (watched / "travel.html").unlink()
    after = _tick(before.cursor)
    assert isinstance(after, dg.SensorResult)
    assert after.run_requests[0].run_key != before.run_requests[0].run_key
    assert after.cursor != before.cursor


def test_touching_a_file_without_changing_it_is_not_a_change(watched):
    before = _tick(None)
    text = (watched / "leave.md").read_text()
    (watched / "leave.md").write_text(text)
    assert isinstance(_tick(before.cursor), dg.SkipReason)


def test_missing_docs_folder_skips_with_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMOPS_DOCS_DIR", str(tmp_path / "nope"))
    result = _tick(None)
    assert isinstance(result, dg.SkipReason)
    assert "does not exist" in result.skip_message
