"""The int8 ONNX Runtime embedder: close to fp32, exported once, stored in its own table."""

from pathlib import Path

import numpy as np
import pytest

from llmops.knowledge.chunking import ChunkerSettings, chunk_documents
from llmops.knowledge.documents import scan_documents
from llmops.knowledge.indexing import sync_index
from resources import onnx_embedder
from resources.embedder import Embedder, _model_path
from resources.vector_store import table_name
from tests.support.files import CORPUS

pytestmark = pytest.mark.slow

SAMPLE = 100


@pytest.fixture(scope="module")
def int8(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    """The onnx-int8 embedder, its export cached in a temporary LLMOPS_HOME."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLMOPS_HOME", str(tmp_path_factory.mktemp("home")))
        embedder = Embedder(backend="onnx-int8")
        assert embedder.model.onnx_path.is_file()  # exported while the temporary home is set
        yield embedder


@pytest.fixture(scope="module")
def corpus_texts(embedder: Embedder) -> list[str]:
    """Every fourth real chunk text of corpus/, up to SAMPLE of them."""
    settings = ChunkerSettings().capped(embedder.max_seq_length)
    chunks = chunk_documents(scan_documents(CORPUS).documents, embedder.tokenizer, settings)
    return [c.embedding_text for c in chunks[::4]][:SAMPLE]


def test_int8_vectors_stay_close_to_fp32(embedder, int8, corpus_texts):
    assert len(corpus_texts) == SAMPLE
    fp32 = embedder.encode(corpus_texts)
    quantized = int8.encode(corpus_texts)
    assert quantized.dtype == np.float32
    assert quantized.shape == fp32.shape
    np.testing.assert_allclose(np.linalg.norm(quantized, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(fp32 * quantized, axis=1)
    assert cosines.mean() >= 0.98
    assert cosines.min() >= 0.95
    reported = []
    assert np.array_equal(
        int8.encode(corpus_texts[:3], progress=lambda d, t: reported.append((d, t))),
        int8.encode(corpus_texts[:3]),
    )
    assert reported == [(3, 3)]


def test_int8_shares_the_tokenizer_contract(embedder, int8):
    assert int8.dimension == embedder.dimension
    assert int8.max_seq_length == embedder.max_seq_length
    texts = ["  spaces around  ", "word " * 400, "Ünïcode café"]
    assert (
        int8.tokenizer(texts, truncation=True)["input_ids"]
        == embedder.tokenizer(texts, truncation=True)["input_ids"]
    )


def test_int8_vectors_live_in_their_own_table(docs, embedder, int8, store):
    assert int8.model_id == "all-MiniLM-L6-v2-onnx-int8" != embedder.model_id
    chunks = chunk_documents(scan_documents(docs).documents, embedder.tokenizer, ChunkerSettings())
    fp32_sync = sync_index(chunks, [], embedder, store)
    int8_sync = sync_index(chunks, [], int8, store)
    assert int8_sync.embedded == fp32_sync.embedded == len(chunks) > 0
    assert int8_sync.table == table_name(int8.model_id) != fp32_sync.table
    tables = set(store.db.table_names())
    assert {table_name(embedder.model_id), table_name(int8.model_id)} <= tables
    assert table_name(embedder.model_id) != table_name(int8.model_id)
    assert store.table(int8.model_id).count_rows() == store.table(embedder.model_id).count_rows()


def test_export_is_cached_and_reused(int8):
    path = int8.model.onnx_path
    folder = path.parent
    written = path.stat().st_mtime_ns
    again = onnx_embedder.ensure_export(Path(_model_path(int8.model_name)), folder)
    assert again == path
    assert path.stat().st_mtime_ns == written
    assert [p.name for p in folder.iterdir()] == [path.name]  # no temp files left behind


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="valid backends: torch, onnx-int8"):
        Embedder(backend="onnx-fp16")
