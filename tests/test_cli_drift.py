"""`llmops drift` on two plain files, without a Dagster instance or an index."""

import json

import pytest

from tests.drift_data import sample_trial
from tests.test_cli import llmops

pytestmark = pytest.mark.slow


def test_drift_cli_flags_an_injected_topic_and_names_it(tmp_path):
    trial = sample_trial("new", seed=3, size=300, share=0.3)
    reference, current = tmp_path / "reference.txt", tmp_path / "current.jsonl"
    reference.write_text("\n".join(q.text for q in trial.reference) + "\n")
    current.write_text("".join(json.dumps({"text": q.text}) + "\n" for q in trial.current))
    result = llmops(
        "drift",
        "--reference",
        str(reference),
        "--current",
        str(current),
        "--json",
        home=tmp_path / "home",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["drift"] is True
    assert report["score"] > report["threshold"]
    assert report["method"]
    injected = {q.text for q in trial.current if q.kind == "new"}
    [top, *_] = sorted(
        report["explanation"]["emerging_topics"], key=lambda t: t["count"], reverse=True
    )
    assert set(top["examples"]) <= injected
    assert {"length", "word_count", "oov_share"} <= set(report["surface"])


def test_drift_cli_names_a_missing_file(tmp_path):
    present = tmp_path / "a.txt"
    present.write_text("How much leave do I get?\n")
    result = llmops(
        "drift",
        "--reference",
        str(present),
        "--current",
        str(tmp_path / "b.txt"),
        home=tmp_path / "home",
    )
    assert result.returncode == 2
    assert "--current" in result.stderr
