"""Shared fixtures: the real embedding model, temporary LanceDB folders and docs folders."""

import os

# `make test` runs one pytest worker per core: each worker (and every process it starts) uses one
# math thread, so two workers do not make four threads fight over two cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

from pathlib import Path

import dagster as dg
import pytest

from assets import corpus, index
from resources.embedder import Embedder
from resources.vector_store import VectorStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT_ROOT / "corpus"
INDEX_ASSETS = [
    corpus.source_documents,
    corpus.document_chunks,
    index.chunk_embeddings,
    index.ann_recall_at_10,
]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture
def store(tmp_path: Path) -> VectorStore:
    return VectorStore(uri=str(tmp_path / "lancedb"))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A small docs folder: three Markdown files, one HTML page, one text file."""
    folder = tmp_path / "docs"
    write_docs(
        folder,
        {
            "leave.md": "# Leave\n\n## Annual leave\n\nEveryone gets 27 days of annual leave.\n\n"
            "## Sick leave\n\nSelf-certify for up to 7 days; after that a fit note is needed.\n",
            "expenses.md": "# Expenses\n\nReceipts are required for anything over £25.\n\n"
            "Claims are submitted in Ledgerly within 60 days.\n",
            "security.md": "# Security\n\n## Passwords\n\nUse a passphrase of at least 16 "
            "characters.\n\n## Lost devices\n\nReport a lost laptop within one hour.\n",
            "travel.html": "<html><head><script>var x = 'tracking';</script></head><body>"
            "<nav>Home | Policies</nav><main><h1>Travel</h1><p>Take the train for trips "
            "under five hours.</p></main><footer>© Northwind</footer></body></html>",
            "benefits.txt": "Benefits\n========\n\nThe pension is matched up to 6%.\n",
        },
    )
    return folder


def write_docs(folder: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def materialize_index(
    docs_dir: Path,
    embedder: Embedder,
    store: VectorStore,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
) -> tuple[dict, dg.ExecuteInProcessResult]:
    """Run the real corpus and index assets and the ANN check; return the index metadata."""
    result = dg.materialize(
        INDEX_ASSETS,
        resources={"embedder": embedder, "vector_store": store},
        run_config={
            "ops": {
                "source_documents": {"config": {"docs_dir": str(docs_dir)}},
                "document_chunks": {
                    "config": {"max_tokens": max_tokens, "overlap_tokens": overlap_tokens}
                },
            }
        },
    )
    assert result.success
    metadata = result.asset_materializations_for_node("chunk_embeddings")[0].metadata
    return {key: value.value for key, value in metadata.items()}, result


@pytest.fixture
def metadata(tmp_path: Path):
    """A migrated SQLite metadata store in a temporary folder."""
    from llmops.storage.metadata.client import MetadataClient

    return MetadataClient(url=f"sqlite:///{tmp_path / 'llmops.db'}")


@pytest.fixture(scope="session")
def service_index(tmp_path_factory, embedder: Embedder) -> Path:
    """The HTTP service tests' docs (`tests.test_service.DOCS`) indexed once into `lancedb/`
    under the returned folder; the service test modules share it and only read it."""
    from tests.test_service import DOCS

    root = tmp_path_factory.mktemp("service")
    write_docs(root / "docs", DOCS)
    materialize_index(root / "docs", embedder, VectorStore(uri=str(root / "lancedb")))
    return root


def query_record(question: str, **changes):
    """A served answer to `question` as the query log stores it; `changes` override fields."""
    from llmops.storage.metadata.records import QueryRecord

    values = {
        "question": question,
        "answer": "…",
        "prompt_name": "answer",
        "prompt_version": "v1",
        "table_name": "chunks_test",
        "table_version": 1,
        "embedding_model": "test",
        "chat_model": "test",
    }
    return QueryRecord(**{**values, **changes})


def local_install(monkeypatch: pytest.MonkeyPatch, home: Path, **folders: Path) -> None:
    """Point llmops at `home` (SQLite, LanceDB and Dagster under it) and the project's shipped
    corpus, prompts, contexts and eval sets, except the `folders` given (LLMOPS_*_DIR=path)."""
    values = {
        "LLMOPS_HOME": home,
        "LLMOPS_DOCS_DIR": CORPUS,
        "LLMOPS_PROMPTS_DIR": PROJECT_ROOT / "prompts",
        "LLMOPS_CONTEXTS_DIR": PROJECT_ROOT / "contexts",
        "LLMOPS_EVALSETS_DIR": PROJECT_ROOT / "evalsets",
        **folders,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    for name in ("LLMOPS_DATABASE_URL", "LLMOPS_LANCEDB_URI", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
