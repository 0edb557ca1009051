"""Every command given its edge inputs (a one-line file, an empty one, a huge one, a binary one, an
empty or non-UTF-8 argument) exits 2 with exactly one line on stderr: no traceback.

The CLI runs in this process (`main`), as the `llmops` script runs it.
"""

import json
from pathlib import Path

import pytest

from llmops.jsonl import MAX_BYTES
from tests.support.cli import refused

EDGES = ("one_line", "empty", "huge", "binary")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("edge")
    made = {
        "one_line": folder / "one_line.txt",
        "empty": folder / "empty.txt",
        "huge": folder / "huge.jsonl",
        "binary": folder / "binary.bin",
    }
    made["one_line"].write_text("How many days of annual leave do I get?\n")
    made["empty"].write_bytes(b"")
    line = json.dumps({"id": 1, "query": "leave " * 200, "text": "leave " * 200}) + "\n"
    with made["huge"].open("w") as out:
        out.write(line * (MAX_BYTES // len(line) + 1))
    made["binary"].write_bytes(bytes(range(256)) * 8)
    return made


@pytest.mark.parametrize("edge", EDGES)
def test_ingest(edge, files, home, capsys):
    assert "not a folder" in refused(capsys, "ingest", "--docs", str(files[edge]))


def test_ingest_of_an_empty_folder_removes_nothing(home, capsys):
    (home / "nothing").mkdir()
    assert "holds no files" in refused(capsys, "ingest", "--docs", str(home / "nothing"))


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("command", ["search", "guard"])
def test_batch_files(command, edge, files, home, capsys):
    line = refused(capsys, command, "--batch", str(files[edge]))
    assert str(files[edge]) in line


@pytest.mark.parametrize("edge", EDGES)
def test_drift_windows(edge, files, home, capsys):
    line = refused(
        capsys, "drift", "--reference", str(files["one_line"]), "--current", str(files[edge])
    )
    assert "one_line.txt" in line or str(files[edge]) in line


@pytest.mark.parametrize("edge", EDGES)
def test_eval_sets(edge, files, home, capsys):
    evalset = home / "evalsets" / files[edge].name  # eval sets are read from there only
    evalset.parent.mkdir(exist_ok=True)
    evalset.write_bytes(files[edge].read_bytes())
    assert str(evalset) in refused(capsys, "eval", "--evalset", str(evalset))


@pytest.mark.parametrize("edge", EDGES)
def test_evalset_approve_of_a_damaged_proposal(edge, files, home, capsys):
    candidates = home / "evalsets" / "candidates"
    candidates.mkdir(parents=True)
    (candidates / "fb-1.json").write_bytes(files[edge].read_bytes())
    line = refused(capsys, "evalset", "approve", "fb-1", "--reference-answer", "27 days")
    assert "fb-1.json" in line
    assert (candidates / "fb-1.json").exists()  # nothing was approved or removed


@pytest.mark.parametrize("command", ["search", "ask", "guard"])
def test_empty_and_binary_arguments(command, home, capsys):
    assert "empty" in refused(capsys, command, "   ")
    assert "not UTF-8" in refused(capsys, command, "leave \udcff\udcfe days")


def test_a_question_longer_than_the_input_budget(home, capsys, monkeypatch):
    monkeypatch.setenv("LLMOPS_MAX_INPUT_TOKENS", "256")
    line = refused(capsys, "ask", "How many days of annual leave do I get? " * 100)
    assert "LLMOPS_MAX_INPUT_TOKENS" in line
