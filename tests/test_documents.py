"""Scanning a docs folder: readable documents, and unreadable files skipped with a reason."""

import random
from pathlib import Path

import pytest

from llmops.errors import InputError
from llmops.knowledge.documents import manifest_digest, read_document, scan_documents
from tests.support.files import write_docs


def _undecodable_bytes() -> bytes:
    rng = random.Random(1)
    return bytes(rng.choice(range(128, 256)) for _ in range(2000))


def test_bad_files_are_skipped_with_reasons(tmp_path: Path):
    write_docs(
        tmp_path,
        {
            "good.md": "# Fine\n\nReadable text.",
            "binary.md": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
            "empty.txt": "   \n\n",
            "garbage.txt": _undecodable_bytes(),
            "manual.pdf": b"%PDF-1.7",
        },
    )
    (tmp_path / "vanished.md").symlink_to(tmp_path / "gone.md")
    scan = scan_documents(tmp_path)
    assert [d.path for d in scan.documents] == ["good.md"]
    reasons = {s.path: s.reason for s in scan.skipped}
    assert reasons == {
        "binary.md": "binary content (NUL bytes)",
        "empty.txt": "empty file",
        "garbage.txt": "not valid UTF-8 and no other text encoding fits",
        "manual.pdf": "unsupported file type '.pdf'",
        "vanished.md": "vanished while scanning",
    }


def test_file_deleted_between_listing_and_reading(tmp_path: Path):
    write_docs(tmp_path, {"a.md": "text"})
    (tmp_path / "a.md").unlink()
    skipped = read_document(tmp_path / "a.md", tmp_path)
    assert skipped.reason == "vanished while scanning"


def test_non_utf8_text_is_decoded(tmp_path: Path):
    write_docs(tmp_path, {"legacy.txt": ("Travel allowance for employees. " * 20).encode("utf-16")})
    [document] = scan_documents(tmp_path).documents
    assert document.text.startswith("Travel allowance for employees.")


def test_hidden_files_ignored_and_paths_relative(tmp_path: Path):
    write_docs(tmp_path, {".git/config": "x", ".DS_Store": "x", "sub/dir/page.html": "<p>Hi</p>"})
    scan = scan_documents(tmp_path)
    assert [d.path for d in scan.documents] == ["sub/dir/page.html"]
    assert scan.skipped == []


def test_missing_folder_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="does not exist"):
        scan_documents(tmp_path / "nope")


def test_manifest_digest_tracks_content_add_and_delete(tmp_path: Path):
    write_docs(tmp_path, {"a.md": "one", "b.md": "two"})
    first = manifest_digest(tmp_path)
    assert manifest_digest(tmp_path) == first
    (tmp_path / "a.md").write_text("one, changed")
    changed = manifest_digest(tmp_path)
    assert changed != first
    (tmp_path / "c.md").write_text("three")
    added = manifest_digest(tmp_path)
    assert added != changed
    (tmp_path / "c.md").unlink()
    assert manifest_digest(tmp_path) == changed
