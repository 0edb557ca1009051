"""`llmops drift` on two plain files, without a Dagster instance or an index."""

import json

import pytest

from tests.support.cli import llmops
from tests.support.drift_data import sample_trial

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


@pytest.mark.parametrize(
    "content",
    [b"How much leave do I get?\n", b"", b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x00binary"],
    ids=["one-line", "empty", "binary"],
)
def test_drift_cli_refuses_a_window_it_cannot_test(tmp_path, content):
    """One line, an empty file or a binary file: exit 2, one line on stderr, no traceback."""
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("How much leave do I get?\nHow do I claim expenses?\n")
    bad.write_bytes(content)
    result = llmops(
        "drift", "--reference", str(good), "--current", str(bad), home=tmp_path / "home"
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--current" in lines[0] or str(bad) in lines[0]
    assert "Traceback" not in result.stderr
