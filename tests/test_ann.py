"""The ANN index is built once the table is large enough, and the recall check holds it to 0.95."""

import itertools
import random

import numpy as np
import pytest
from lancedb.index import IvfPq

from assets.index import ann_recall_at_10
from llmops.knowledge.chunking import Chunk
from llmops.knowledge.indexing import chunk_rows
from resources.vector_store import VectorStore
from tests.support.files import CORPUS
from tests.support.indexing import materialize_index

pytestmark = pytest.mark.slow

SUBJECTS = [
    "annual leave",
    "sick pay",
    "the corporate card",
    "hotel caps",
    "MFA keys",
    "the VPN",
    "the pension",
    "probation",
    "mileage",
    "parental leave",
    "per diems",
    "laptops",
]
VERBS = ["applies to", "changes for", "is explained to", "needs approval from", "is capped for"]
WHO = [
    "new starters",
    "managers",
    "the Lisbon office",
    "contractors",
    "the Austin team",
    "part-time staff",
    "Heads of Department",
    "interns",
    "remote workers",
    "the Leeds HQ",
]
WHEN = [
    "in January",
    "after probation",
    "during the freeze",
    "on weekends",
    "from April",
    "within 60 days",
    "before travel",
    "each quarter",
    "at year end",
    "on request",
]


def _sentences(n: int) -> list[str]:
    combos = list(itertools.product(SUBJECTS, VERBS, WHO, WHEN))
    random.Random(7).shuffle(combos)
    return [
        f"{s.capitalize()} {v} {w} {t} (rule {i})." for i, (s, v, w, t) in enumerate(combos[:n])
    ]


@pytest.fixture(scope="module")
def large_store(embedder, tmp_path_factory) -> VectorStore:
    """3,000 real MiniLM vectors of distinct policy sentences, with an IVF-PQ index."""
    store = VectorStore(uri=str(tmp_path_factory.mktemp("ann") / "lancedb"), ann_min_rows=2000)
    texts = _sentences(3000)
    chunks = [Chunk(f"c{i}", f"doc{i % 300}.md", "h", 0, (), t, 20) for i, t in enumerate(texts)]
    store.sync(embedder.model_id, chunk_rows(chunks, embedder.encode(texts)), [])
    assert not store.has_ann_index(embedder.model_id)
    assert store.refresh_ann_index(embedder.model_id) == "created"
    return store


def test_index_only_from_the_row_threshold(embedder, tmp_path):
    store = VectorStore(uri=str(tmp_path / "lancedb"), ann_min_rows=2000)
    texts = _sentences(300)
    chunks = [Chunk(f"c{i}", "d.md", "h", 0, (), t, 20) for i, t in enumerate(texts)]
    store.sync(embedder.model_id, chunk_rows(chunks, embedder.encode(texts)), [])
    assert store.refresh_ann_index(embedder.model_id) == "too small"
    assert not store.has_ann_index(embedder.model_id)


def test_recall_check_passes_on_the_built_index(embedder, large_store):
    result = ann_recall_at_10(embedder=embedder, vector_store=large_store)
    assert result.passed
    assert result.metadata["recall_at_10"].value >= 0.95
    ann = large_store.search(embedder.model_id, embedder.encode(["hotel caps for interns"]), k=10)
    exact = large_store.search(
        embedder.model_id, embedder.encode(["hotel caps for interns"]), k=10, exact=True
    )
    assert len(ann.hits[0]) == 10
    assert ann.hits[0][0].chunk_id == exact.hits[0][0].chunk_id


def test_new_rows_are_folded_into_the_index(embedder, large_store):
    texts = ["Travel insurance covers skiing trips for the Lisbon office (extra rule)."]
    chunk = Chunk("extra", "extra.md", "h", 0, (), texts[0], 20)
    large_store.sync(embedder.model_id, chunk_rows([chunk], embedder.encode(texts)), [])
    assert large_store.refresh_ann_index(embedder.model_id) == "updated"
    assert large_store.refresh_ann_index(embedder.model_id) == "unchanged"
    hits = large_store.search(embedder.model_id, embedder.encode(texts), k=1).hits[0]
    assert hits[0].chunk_id == "extra"


def test_recall_check_fails_on_a_lossy_index(embedder, large_store):
    """A coarse index (1 PQ sub-vector) searched in one list without re-ranking must fail."""
    table = large_store.table(embedder.model_id)
    table.create_index(
        "vector", config=IvfPq(distance_type="cosine", num_sub_vectors=1), replace=True
    )
    lossy = VectorStore(uri=large_store.uri, ann_nprobes=1, ann_refine_factor=1)
    result = ann_recall_at_10(embedder=embedder, vector_store=lossy)
    assert not result.passed
    assert result.metadata["recall_at_10"].value < 0.95


def test_materialized_corpus_gets_an_index_and_a_passing_check(embedder, tmp_path):
    store = VectorStore(uri=str(tmp_path / "lancedb"), ann_min_rows=256)
    metadata, result = materialize_index(CORPUS, embedder, store)
    assert metadata["chunks"] >= 256
    assert metadata["ann_index"] == "created"
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "ann_recall_at_10"
    assert check.passed
    assert check.metadata["recall_at_10"].value >= 0.95
    assert np.isclose(
        check.metadata["recall_at_10"].value, store.ann_recall(embedder.model_id, sample=100, k=10)
    )
