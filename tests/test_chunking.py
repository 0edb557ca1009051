"""Chunks never exceed what the model reads, keep all content, overlap, and have stable ids."""

import itertools
import re

import pytest

from llmops.knowledge.chunking import Chunker, ChunkerSettings, chunk_documents
from llmops.knowledge.documents import SourceDocument, content_hash, scan_documents
from tests.support.files import CORPUS


def _doc(text: str, path: str = "doc.md", doc_type: str = "markdown") -> SourceDocument:
    return SourceDocument(path, content_hash(text.encode()), len(text), doc_type, text)


def _model_tokens(embedder, text: str) -> int:
    """Tokens the model itself sees, special tokens included, without truncation."""
    return len(embedder.tokenizer(text, truncation=False)["input_ids"])


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.fixture(scope="module")
def corpus_documents():
    documents = scan_documents(CORPUS).documents
    assert len(documents) >= 20
    return documents


def test_no_corpus_chunk_exceeds_model_limit(embedder, corpus_documents):
    chunks = chunk_documents(corpus_documents, embedder.tokenizer, ChunkerSettings())
    limit = embedder.max_seq_length
    assert limit == 256
    measured = [_model_tokens(embedder, c.embedding_text) for c in chunks]
    assert max(measured) <= limit
    assert [c.token_count for c in chunks] == measured
    assert sum(measured) / len(measured) > limit / 3  # chunks are filled, not fragments


def test_pathological_text_stays_within_limit(embedder):
    run_on = " ".join(f"word{i} and more clauses without any full stop" for i in range(600))
    blob = "x" * 5000 + " " + "ab" * 3000
    long_heading = "# " + " ".join(["Quarterly"] * 120)
    document = _doc(f"# Title\n\n{run_on}\n\n{blob}\n\n{long_heading}\n\nShort body.")
    settings = ChunkerSettings(max_tokens=128, overlap_tokens=16)
    chunks = Chunker(embedder.tokenizer, settings).chunk_document(document)
    assert len(chunks) > 10
    assert all(_model_tokens(embedder, c.embedding_text) <= 128 for c in chunks)
    assert "word599" in " ".join(c.text for c in chunks)


def test_chunks_keep_every_word_of_the_document(embedder, corpus_documents):
    chunker = Chunker(embedder.tokenizer, ChunkerSettings(max_tokens=128, overlap_tokens=16))
    for document in corpus_documents:
        if document.type != "markdown":
            continue
        chunks = chunker.chunk_document(document)
        chunk_words = {w for c in chunks for w in _words(c.embedding_text)}
        assert set(_words(document.text)) - chunk_words == set(), document.path


def test_heading_trail_and_paragraph_boundaries(embedder):
    text = "# Leave\n\n## Sick leave\n\n" + "\n\n".join(
        f"Paragraph {i} says one thing. It then says another thing about rule {i}."
        for i in range(40)
    )
    chunks = Chunker(embedder.tokenizer, ChunkerSettings(max_tokens=128)).chunk_document(_doc(text))
    assert len(chunks) > 3
    assert all(c.headings == ("Leave", "Sick leave") for c in chunks)
    assert all(c.embedding_text.startswith("Leave > Sick leave\n\n") for c in chunks)
    for chunk in chunks:  # packed whole paragraphs: no chunk ends mid-paragraph
        assert chunk.text.endswith(".")


def test_consecutive_chunks_overlap(embedder):
    sentences = [
        f"Rule number {i} applies to every employee in the Lisbon office." for i in range(60)
    ]
    document = _doc("# Rules\n\n" + " ".join(sentences))
    chunks = Chunker(
        embedder.tokenizer, ChunkerSettings(max_tokens=96, overlap_tokens=32)
    ).chunk_document(document)
    assert len(chunks) > 3
    for before, after in itertools.pairwise(chunks):
        last_sentence = before.text.split(". ")[-1].rstrip(".")
        assert last_sentence in after.text


def test_chunk_ids_stable_and_depend_on_settings(embedder):
    document = _doc("# A\n\n" + "Some sentence about travel. " * 80)
    first = [
        c.chunk_id for c in Chunker(embedder.tokenizer, ChunkerSettings()).chunk_document(document)
    ]
    again = [
        c.chunk_id for c in Chunker(embedder.tokenizer, ChunkerSettings()).chunk_document(document)
    ]
    other = Chunker(embedder.tokenizer, ChunkerSettings(overlap_tokens=8)).chunk_document(document)
    moved = Chunker(embedder.tokenizer, ChunkerSettings()).chunk_document(
        _doc(document.text, "b.md")
    )
    assert first == again
    assert set(first).isdisjoint(c.chunk_id for c in other)
    assert set(first).isdisjoint(c.chunk_id for c in moved)


def test_repeated_paragraphs_give_one_chunk(embedder):
    document = _doc("# A\n\nSame disclaimer.\n\n# B\n\nOther.\n\n# A\n\nSame disclaimer.")
    chunks = Chunker(embedder.tokenizer, ChunkerSettings()).chunk_document(document)
    assert [c.text for c in chunks] == ["Same disclaimer.", "Other."]
    assert len({c.chunk_id for c in chunks}) == 2


def test_settings_are_capped_at_the_model_limit():
    assert ChunkerSettings(max_tokens=512).capped(256).max_tokens == 256
    with pytest.raises(ValueError, match="overlap_tokens"):
        ChunkerSettings(max_tokens=64, overlap_tokens=40)
