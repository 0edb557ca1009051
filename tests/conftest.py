"""Shared fixtures: the real embedding model, temporary LanceDB folders and docs folders, a local
install, PostgreSQL, and the indexed clients of the HTTP service tests. Helpers the test modules
share are in `tests.support`."""

import os

# `make test` runs one pytest worker per core: each worker (and every process it starts) uses one
# math thread, so two workers do not make four threads fight over two cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa

from llmops.storage.metadata.client import MetadataClient
from resources.embedder import Embedder
from resources.vector_store import VectorStore
from tests.support.files import PROJECT_ROOT, local_install, write_docs
from tests.support.indexing import materialize_index
from tests.support.pg import PG_URL

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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


@pytest.fixture
def metadata(tmp_path: Path) -> MetadataClient:
    """A migrated SQLite metadata store in a temporary folder."""
    return MetadataClient(url=f"sqlite:///{tmp_path / 'llmops.db'}")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A local install under `tmp_path/home` with the shipped folders, eval sets read from
    `tmp_path/evalsets`; returns `tmp_path`."""
    local_install(monkeypatch, tmp_path / "home", LLMOPS_EVALSETS_DIR=tmp_path / "evalsets")
    return tmp_path


@pytest.fixture(scope="session")
def pg_admin():
    """An engine on the test PostgreSQL server, or a skip (a failure under CI) saying why not."""
    engine = MetadataClient(url=PG_URL).engine  # the store's choice of driver
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        where = sa.engine.make_url(PG_URL).render_as_string(hide_password=True)
        reason = f"PostgreSQL at {where} does not answer: {' '.join(str(exc.orig).split())}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_database():
    """A fresh database on the test server, dropped afterwards; its URL."""
    admin = MetadataClient(url=PG_URL).engine.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL server at {PG_URL}: {exc}")
        pytest.skip(f"no PostgreSQL server at {PG_URL}")
    name = f"llmops_rel_{uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def service_index(tmp_path_factory, embedder: Embedder) -> Path:
    """The HTTP service tests' docs (`tests.support.service.DOCS`) indexed once into `lancedb/`
    under the returned folder; the service test modules share it and only read it."""
    from tests.support.service import DOCS

    root = tmp_path_factory.mktemp("service")
    write_docs(root / "docs", DOCS)
    materialize_index(root / "docs", embedder, VectorStore(uri=str(root / "lancedb")))
    return root


@pytest.fixture(scope="module")
def llm_server():
    """The service tests' chat model (`tests.support.service.reply`) on a test server."""
    from tests.support.llm_server import ScriptedLLMServer
    from tests.support.service import reply

    with ScriptedLLMServer(responder=reply) as running:
        yield running


@pytest.fixture(scope="module")
def root(service_index) -> Path:
    """DOCS indexed into `lancedb/` under this folder, once for every service test module
    (they only read it)."""
    return service_index


@pytest.fixture(scope="module")
def clients(root, embedder, llm_server, tmp_path_factory):
    """The service clients of one module, with a metadata store of its own (no keys yet)."""
    from llmops.costs.budget import BudgetLimits
    from llmops.entrypoints.service import Clients
    from llmops.guardrails.config import load_guardrails_config
    from llmops.guardrails.pipeline import Guardrails
    from llmops.prompts.registry import register
    from llmops.prompts.specs import load_prompt_files
    from resources.llm import LLMClient

    database = tmp_path_factory.mktemp("service-db") / "llmops.db"
    metadata = MetadataClient(url=f"sqlite:///{database}")
    register(load_prompt_files(PROJECT_ROOT / "prompts"), metadata)
    vectors = VectorStore(uri=str(root / "lancedb"))
    llm = LLMClient(
        base_url=llm_server.base_url, api_key="k", model="gpt-4o-mini", retry_base_s=0.01
    )
    limits = BudgetLimits(max_input_tokens=2048, max_output_tokens=100)
    guardrails = Guardrails(load_guardrails_config(), embedder, vectors)
    return Clients(embedder, vectors, llm, limits, metadata, guardrails)
