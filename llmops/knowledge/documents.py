"""Scan a knowledge-base folder: which documents there are, their content hash, and their text.

A document that cannot be read (binary, empty, undecodable, vanished mid-scan) is never an
error that stops the scan: it becomes a `SkippedFile` with the reason, so one bad file does not
block the other thousand and the index keeps what it already has for it.

A symlink (or a symlinked folder) that resolves outside the docs folder is skipped with the
reason `outside docs folder` and never read: whoever can write the docs folder must not be able
to publish `/etc/shadow` or a mounted secret through `llmops search`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from charset_normalizer import from_bytes

from llmops.errors import InputError
from llmops.safepaths import OutsideFolderError, read_inside, resolved

DOCUMENT_TYPES: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
}
_BINARY_SNIFF_BYTES = 8192
OUTSIDE_DOCS = "outside docs folder"


@dataclass(frozen=True)
class SourceDocument:
    """One readable document: `path` is relative to the docs folder, with forward slashes."""

    path: str
    content_hash: str
    size: int
    type: str
    text: str


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class DocumentScan:
    """The readable documents of a folder and the files that were left out, with reasons."""

    docs_dir: str
    documents: list[SourceDocument] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def kept_documents(self) -> list[str]:
        """Skipped files whose indexed chunks stay: unreadable for now, but still documents.
        A file outside the docs folder is not one: whatever was indexed from it goes."""
        return [s.path for s in self.skipped if s.reason != OUTSIDE_DOCS]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iter_document_files(docs_dir: Path) -> Iterator[Path]:
    """Files under `docs_dir` in a stable order, hidden files and folders left out."""
    if not docs_dir.is_dir():
        raise InputError(f"docs folder {docs_dir} does not exist or is not a folder")
    for path in sorted(docs_dir.rglob("*")):
        relative = path.relative_to(docs_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() or path.is_symlink():
            yield path


def decode(data: bytes) -> str:
    """Decode document bytes as UTF-8, else as the charset charset-normalizer is sure of.

    Raises `ValueError` saying why the bytes are not text.
    """
    if not data.strip():
        raise ValueError("empty file")
    if b"\x00" in data[:_BINARY_SNIFF_BYTES] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError("binary content (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise ValueError("not valid UTF-8 and no other text encoding fits")
    return str(best)


def read_document(path: Path, docs_dir: Path) -> SourceDocument | SkippedFile:
    """Read one file into a `SourceDocument`, or say why it cannot be indexed."""
    relative = path.relative_to(docs_dir).as_posix()
    root = resolved(docs_dir)
    if not resolved(path).is_relative_to(root):
        return SkippedFile(relative, OUTSIDE_DOCS)
    doc_type = DOCUMENT_TYPES.get(path.suffix.lower())
    if doc_type is None:
        return SkippedFile(relative, f"unsupported file type {path.suffix or '(none)'!r}")
    try:
        data = read_inside(path, root)
    except OutsideFolderError:
        return SkippedFile(relative, OUTSIDE_DOCS)
    except FileNotFoundError:
        return SkippedFile(relative, "vanished while scanning")
    except OSError as exc:
        return SkippedFile(relative, f"unreadable: {exc.strerror or exc}")
    try:
        text = decode(data)
    except ValueError as exc:
        return SkippedFile(relative, str(exc))
    if not text.strip():
        return SkippedFile(relative, "empty file")
    return SourceDocument(relative, content_hash(data), len(data), doc_type, text)


def scan_documents(docs_dir: Path) -> DocumentScan:
    """Read every file of `docs_dir`; unreadable ones are recorded, not raised."""
    docs_dir = resolved(docs_dir)
    scan = DocumentScan(docs_dir=str(docs_dir))
    for path in iter_document_files(docs_dir):
        result = read_document(path, docs_dir)
        if isinstance(result, SourceDocument):
            scan.documents.append(result)
        else:
            scan.skipped.append(result)
    return scan


def manifest_digest(docs_dir: Path) -> str:
    """One hash over every file's path and content hash: changes when any document changes.

    A file outside the docs folder (through a symlink) counts by its path only, unread.
    """
    root = resolved(docs_dir)
    digest = hashlib.sha256()
    for path in iter_document_files(root):
        try:
            data = read_inside(path, root)
        except OSError:
            data = b""
        except OutsideFolderError:
            data = OUTSIDE_DOCS.encode()
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0" + content_hash(data).encode() + b"\n")
    return digest.hexdigest()
