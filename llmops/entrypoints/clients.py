"""The clients the command line and the HTTP service build, as the environment configures them.

Both entry points answer through the same models, stores and guardrails; this module is the one
place that builds them. Imports are local so that `llmops --help` does not load the models.
"""

from llmops.config import Settings


def metadata_store():
    """The metadata store at `LLMOPS_DATABASE_URL` (default: SQLite under `LLMOPS_HOME`)."""
    from llmops.storage.metadata.client import MetadataClient

    return MetadataClient(url=Settings.from_env().database_url)


def synced_store():
    """The metadata store with the prompt and context files' new contents registered
    (idempotent)."""
    from llmops.prompts.registry import register
    from llmops.prompts.specs import load_prompt_files
    from llmops.retrieval import context_registry
    from llmops.retrieval.contexts import load_context_files

    settings = Settings.from_env()
    store = metadata_store()
    register(load_prompt_files(settings.prompts_dir), store)
    if settings.contexts_dir.is_dir():
        context_registry.register(load_context_files(settings.contexts_dir), store)
    return store


def index_clients():
    """Embedder and vector store as the environment configures them (as in the Definitions)."""
    from resources.embedder import Embedder
    from resources.vector_store import VectorStore

    return Embedder(), VectorStore(uri=Settings.from_env().lancedb_uri)


def answer_clients():
    """Embedder, vector store, LLM client and budget limits, as the environment configures."""
    from llmops.costs.budget import BudgetLimits
    from resources.llm import LLMClient

    return (*index_clients(), LLMClient.from_env(), BudgetLimits.from_env())


def production_context(store, embedder):
    """The retrieval settings and embedder of the production context configuration (the
    built-in defaults before any is registered)."""
    from llmops.retrieval.experiments import serving_context

    return serving_context(store, embedder)


def build_guardrails(embedder, vectors):
    """The guardrails of guardrails.yaml (LLMOPS_GUARDRAILS)."""
    from llmops.guardrails.config import load_guardrails_config
    from llmops.guardrails.pipeline import Guardrails

    return Guardrails(load_guardrails_config(), embedder, vectors)
