"""Files and names cannot leave their folders: symlinks out of the docs folder, eval-set paths,
proposal ids, and prompt and context names."""

import os
from pathlib import Path

import pytest

from llmops.contexts import RetrievalSpec
from llmops.documents import manifest_digest, scan_documents
from llmops.retrieval import retrieve
from llmops.safepaths import OutsideFolderError, inside, read_inside
from tests.conftest import materialize_index

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
