"""`llmops ingest` and `llmops search` as a user runs them: JSON contracts and exit codes."""

import json
from pathlib import Path

import dagster as dg
import pytest

from tests.support.cli import llmops, llmops_process, one_line_error
from tests.support.files import write_docs

pytestmark = pytest.mark.slow

INGEST_FIELDS = {
    "documents",
    "chunks",
    "embedded",
    "reused",
    "deleted",
    "skipped",
    "table_version",
    "seconds",
}
RESULT_FIELDS = {"chunk_id", "source", "text", "score"}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A docs folder ingested once through the CLI; returns (home, docs, ingest JSON)."""
    root = tmp_path_factory.mktemp("cli")
    docs, home = root / "docs", root / "home"
    write_docs(
        docs,
        {
            "leave.md": "# Leave\n\n## Annual leave\n\nEveryone gets 27 days of leave a year.\n",
            "it/laptops.md": "# Laptops\n\nReport a lost laptop to security within one hour.\n",
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
        },
    )
    result = llmops("ingest", "--json", home=home, docs=docs)
    assert result.returncode == 0, result.stderr
    return home, docs, json.loads(result.stdout)


def test_ingest_json_contract(indexed):
    home, _, report = indexed
    assert report.keys() >= INGEST_FIELDS
    assert report["documents"] == 2
    assert report["embedded"] == report["chunks"] == 2
    assert report["reused"] == report["deleted"] == 0
    assert report["skipped"] == [{"path": "logo.png", "reason": "unsupported file type '.png'"}]
    assert report["table_version"] == 2  # the rows, then the full-text index
    assert (home / "lancedb").is_dir()


def test_ingest_runs_through_dagster_and_is_recorded(indexed):
    home, _, report = indexed
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    run = instance.get_run_by_id(report["run_id"])
    assert run is not None
    assert run.job_name == "reindex"
    assert run.is_success


def test_reingest_with_docs_flag_encodes_nothing(indexed, tmp_path):
    home, docs, first = indexed
    result = llmops("ingest", "--docs", str(docs), "--json", home=home, docs=tmp_path / "unused")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["embedded"] == 0
    assert report["reused"] == first["chunks"]
    assert report["table_version"] == first["table_version"]
    assert "encoded" not in result.stderr or "0/0" in result.stderr


def test_search_json(indexed):
    home, _, report = indexed
    result = llmops("search", "How much holiday do I get?", "-k", "2", "--json", home=home)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["index_version"] == report["table_version"]
    top, second = payload["results"]
    assert top.keys() >= RESULT_FIELDS
    assert top["source"] == "leave.md"
    assert "27 days" in top["text"]
    assert top["score"] > second["score"]


def test_a_warm_search_is_silent_on_stderr_unless_asked(indexed):
    home, _, _ = indexed
    # Real processes: the quiet stderr of a process that loaded the model and LanceDB, and the
    # library logs -vv turns on (tests.support.cli says why only a process shows both).
    quiet = llmops_process("search", "How much holiday do I get?", home=home)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    assert "leave.md" in quiet.stdout
    verbose = llmops_process("-vv", "search", "How much holiday do I get?", home=home)
    assert verbose.returncode == 0, verbose.stderr
    assert verbose.stderr != ""  # the library logs -vv asks for


def test_search_batch_jsonl(indexed, tmp_path):
    home, _, _ = indexed
    batch = tmp_path / "queries.jsonl"
    batch.write_text(
        '{"id": "q1", "query": "lost my laptop"}\n\n{"id": 2, "query": "vacation days"}\n'
    )
    result = llmops("search", "--batch", str(batch), "-k", "1", home=home)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["id"], line["results"][0]["source"]) for line in lines] == [
        ("q1", "it/laptops.md"),
        (2, "leave.md"),
    ]


def test_search_batch_bad_line_names_file_and_line(indexed, tmp_path):
    home, _, _ = indexed
    batch = tmp_path / "bad.jsonl"
    batch.write_text('{"id": "q1", "query": "fine"}\n{"id": "q2"}\n')
    result = llmops("search", "--batch", str(batch), home=home)
    one_line_error(result, f"{batch}:2", "query")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["search"], ["TEXT", "--batch"]),
        (["search", "x", "--batch", "f.jsonl"], ["not both"]),
        (["search", "x", "-k", "0"], ["-k"]),
        (["search", "--batch", "/no/such.jsonl"], ["/no/such.jsonl"]),
        (["ingest", "--docs", "/no/such/dir"], ["--docs", "/no/such/dir"]),
        (["ingest", "--bogus"], ["--bogus"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, words):
    one_line_error(llmops(*args, home=tmp_path / "home"), *words)


def test_json_errors_are_json_on_stdout(tmp_path):
    result = llmops("ingest", "--docs", str(tmp_path / "nope"), "--json", home=tmp_path / "home")
    assert result.returncode == 2
    assert "does not exist" in json.loads(result.stdout)["error"]


def test_search_before_ingest_says_what_to_do(tmp_path):
    one_line_error(llmops("search", "anything", home=tmp_path / "home"), "llmops ingest")
