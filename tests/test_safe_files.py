"""Files and names cannot leave their folders: symlinks out of the docs folder, eval-set paths,
proposal ids, and prompt and context names."""

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from llmops.entrypoints.cli import main
from llmops.errors import InputError
from llmops.knowledge.documents import manifest_digest, scan_documents
from llmops.retrieval.contexts import RetrievalSpec
from llmops.retrieval.search import retrieve
from llmops.safepaths import OutsideFolderError, inside, read_inside
from tests.support.files import local_install
from tests.support.indexing import materialize_index

SECRET = "The production deploy token is zebra-quartz-5517, do not share it."


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A Markdown file outside the docs folder, with a token no document mentions."""
    path = tmp_path / "vault" / "token.md"
    path.parent.mkdir()
    path.write_text(f"# Deploy token\n\n{SECRET}\n", encoding="utf-8")
    return path


def _searchable(store, embedder) -> set[str]:
    """Every chunk text a vector, a full-text and a hybrid search for the token return."""
    question = "What is the production deploy token zebra-quartz-5517?"
    texts = set()
    for mode in ("vector", "fts", "hybrid"):
        [found] = retrieve([question], embedder, store, k=20, spec=RetrievalSpec(mode=mode))
        texts |= {hit.text for hit in found.hits}
    return texts


@pytest.mark.slow
def test_symlink_out_of_the_docs_folder_is_skipped_and_not_searchable(
    docs, secret, embedder, store
):
    (docs / "token.md").symlink_to(secret)
    (docs / "vault").symlink_to(secret.parent, target_is_directory=True)
    (docs / "leave-again.md").symlink_to(docs / "leave.md")  # inside: still a document

    result, run = materialize_index(docs, embedder, store)

    scan = run.output_for_node("source_documents")
    assert {s.path: s.reason for s in scan.skipped} == {
        "token.md": "outside docs folder",
        "vault": "outside docs folder",
    }
    assert "leave-again.md" in {d.path for d in scan.documents}
    table = run.asset_materializations_for_node("source_documents")[0].metadata["skipped_files"]
    assert "outside docs folder" in table.value
    texts = _searchable(store, embedder)
    assert texts, "the searches found nothing at all"
    assert not any("zebra" in text for text in texts)
    assert result["documents"] == 6


@pytest.mark.slow
def test_a_file_swapped_for_an_outside_symlink_loses_its_chunks(docs, secret, embedder, store):
    """What an index built before this check holds from such a file is deleted, not kept as
    the chunks of an unreadable document are."""
    (docs / "token.md").write_text(secret.read_text(encoding="utf-8"), encoding="utf-8")
    materialize_index(docs, embedder, store)
    assert any("zebra" in text for text in _searchable(store, embedder))

    (docs / "token.md").unlink()
    (docs / "token.md").symlink_to(secret)
    result, _ = materialize_index(docs, embedder, store)

    assert result["deleted"] >= 1
    assert not any("zebra" in text for text in _searchable(store, embedder))


def test_manifest_digest_does_not_read_outside_files(docs, secret):
    (docs / "token.md").symlink_to(secret)
    before = manifest_digest(docs)
    secret.write_text("# Deploy token\n\nRotated: the token is now otter-basalt-0042.\n")
    assert manifest_digest(docs) == before


def test_a_symlink_to_a_fifo_is_skipped_without_blocking(docs):
    """Reading a FIFO would wait for a writer forever and hang the ingest."""
    os.mkfifo(docs / "pipe")
    (docs / "pipe.md").symlink_to(docs / "pipe")
    scan = scan_documents(docs)
    assert {s.path: s.reason for s in scan.skipped} == {"pipe.md": "unreadable: not a regular file"}


def test_a_symlink_loop_is_skipped_not_raised(docs):
    (docs / "a.md").symlink_to(docs / "b.md")
    (docs / "b.md").symlink_to(docs / "a.md")
    scan = scan_documents(docs)
    reasons = {s.path: s.reason for s in scan.skipped}
    assert reasons.keys() == {"a.md", "b.md"}
    assert all(
        r.startswith("unreadable: Too many levels of symbolic links") for r in reasons.values()
    )
    manifest_digest(docs)  # does not raise either


def test_read_inside_refuses_a_folder_swapped_for_a_symlink(tmp_path, secret):
    """The check and the open race: the opened file's own path is checked again."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "token.md").write_text("inside")
    assert read_inside(root / "sub" / "token.md", root) == b"inside"
    (root / "sub" / "token.md").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(secret.parent, target_is_directory=True)
    with pytest.raises(OutsideFolderError):
        read_inside(root / "sub" / "token.md", root)


@pytest.mark.parametrize("name", ["../secret.jsonl", "/etc/passwd", "a/../../b.jsonl"])
def test_inside_refuses_paths_that_leave_the_folder(tmp_path, name):
    with pytest.raises(OutsideFolderError, match="outside"):
        inside(tmp_path / "evalsets", name, "--evalset")


def test_inside_refuses_a_symlink_that_leaves_the_folder(tmp_path, secret):
    folder = tmp_path / "evalsets"
    folder.mkdir()
    (folder / "handbook.jsonl").symlink_to(secret)
    with pytest.raises(OutsideFolderError):
        inside(folder, "handbook.jsonl", "--evalset")
    assert inside(folder, "sub/../pydocs.jsonl", "--evalset") == folder.resolve() / "pydocs.jsonl"
    assert inside(folder, folder / "x.jsonl", "--evalset") == folder.resolve() / "x.jsonl"


CASE = {"id": "c1", "question": "What is the deploy token?", "reference_answer": "x"}


@pytest.fixture
def evalsets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An evalsets folder (LLMOPS_EVALSETS_DIR) with a handbook set, and a valid eval set
    outside it whose question a run must never read."""
    folder = tmp_path / "evalsets"
    folder.mkdir()
    (folder / "handbook.jsonl").write_text(json.dumps({**CASE, "gold_sources": []}) + "\n")
    (tmp_path / "outside.jsonl").write_text(json.dumps({**CASE, "gold_sources": []}) + "\n")
    (folder / "linked.jsonl").symlink_to(tmp_path / "outside.jsonl")
    local_install(
        monkeypatch, tmp_path / "home", LLMOPS_EVALSETS_DIR=folder, LLMOPS_DOCS_DIR=tmp_path
    )
    return folder


def _eval_dataset(evalset: str) -> dg.ExecuteInProcessResult:
    """The `eval_dataset` asset of prompt version answer@v1, run with config `evalset`."""
    from assets.evaluation import eval_dataset

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("prompt_versions", ["answer@v1"])
        return dg.materialize(
            [eval_dataset],
            partition_key="answer@v1",
            instance=instance,
            run_config={"ops": {"eval_dataset": {"config": {"evalset": evalset}}}},
            raise_on_error=False,
        )


@pytest.mark.parametrize("name", ["../outside.jsonl", "{root}/outside.jsonl", "linked.jsonl"])
def test_a_run_config_cannot_read_an_eval_set_outside_the_folder(evalsets, name):
    result = _eval_dataset(name.format(root=evalsets.parent))
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error.to_string()
    assert "OutsideFolderError: eval set" in error
    assert "only read from LLMOPS_EVALSETS_DIR" in error


def test_a_run_config_reads_an_eval_set_by_its_name_in_the_folder(evalsets):
    result = _eval_dataset("handbook.jsonl")
    assert result.success
    assert result.output_for_node("eval_dataset").path == str(evalsets.resolve() / "handbook.jsonl")


def test_cli_eval_refuses_an_eval_set_outside_the_folder(evalsets, capsys):
    assert main(["eval", "--evalset", str(evalsets.parent / "outside.jsonl")]) == 2
    assert "outside" in capsys.readouterr().err


def test_approving_a_proposal_id_that_leaves_the_folder_deletes_nothing(evalsets, capsys):
    """Approving a proposal appends it and deletes its file: with `../victim` as the id that
    would append any JSON file of the right shape and delete it."""
    (evalsets / "candidates").mkdir()
    victim = evalsets / "victim.json"
    victim.write_text(
        json.dumps(
            {
                "id": "fb-1",
                "question": "What is the deploy token?",
                "answer_given": "zebra",
                "query_id": "q1",
                "prompt": "answer@v1",
                "feedback_at": "2026-11-20T09:00:00+00:00",
            }
        )
    )
    before = (evalsets / "handbook.jsonl").read_text()
    args = ["evalset", "approve", "../victim", "--reference-answer", "no", "--unanswerable"]
    assert main(args) == 2
    assert "outside" in capsys.readouterr().err
    assert victim.is_file()
    assert (evalsets / "handbook.jsonl").read_text() == before


@pytest.mark.parametrize("ref", ["../../etc/passwd", "..", "answer/../x@v1", "A@production"])
def test_prompt_and_context_refs_must_be_names(metadata, ref):
    from llmops.prompts import registry
    from llmops.retrieval import context_registry

    with pytest.raises(InputError, match="is not valid"):
        registry.resolve(metadata, ref)
    with pytest.raises(InputError, match="is not valid"):
        context_registry.resolve(metadata, ref)


def test_cli_refuses_a_prompt_name_that_is_a_path(evalsets, capsys):
    assert main(["prompts", "show", "../../etc/passwd"]) == 2
    assert "prompt name '../../etc/passwd' is not valid" in capsys.readouterr().err


def test_scores_and_experiments_stay_in_their_folders(tmp_path):
    import pandas as pd

    from llmops.evaluation.scoring import write_scores
    from llmops.retrieval.experiments import experiment_dir

    with pytest.raises(OutsideFolderError):
        write_scores(pd.DataFrame({"id": [1]}), tmp_path / "evaluations", "../../x", "v1")
    with pytest.raises(OutsideFolderError):
        experiment_dir(tmp_path / "reports", "../../x@v1")
    assert experiment_dir(tmp_path / "reports", "hybrid@abc").name == "hybrid_abc"
    assert not list(tmp_path.glob("x*"))
