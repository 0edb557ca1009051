"""Re-running a served answer as it was served: the one audit of `llmops audit --rerun` and of
`GET /v1/queries/{id}?rerun=true`.

A logged query names its context configuration (search mode, depth, fusion, floor, table), its
LanceDB table version and its prompt version. The re-run must use all three: with the built-in
retrieval defaults or today's production configuration instead, a query served under `hybrid`
would search differently and `same_chunks` would report a change that never happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.answering import rag
from llmops.retrieval.experiments import logged_context

if TYPE_CHECKING:
    from llmops.costs.budget import BudgetLimits
    from llmops.storage.metadata.client import MetadataClient
    from llmops.storage.metadata.records import QueryRecord
    from resources.embedder import Embedder
    from resources.llm import LLMClient
    from resources.vector_store import VectorStore


def rerun_as_served(
    record: QueryRecord,
    embedder: Embedder,
    vectors: VectorStore,
    llm: LLMClient,
    store: MetadataClient,
    limits: BudgetLimits,
) -> rag.AuditResult:
    """Re-run `record` with the context configuration it was logged with (its embedder too),
    against the logged table and prompt versions; the LLM call is charged through `store` as
    purpose `audit`."""
    settings, embedder = logged_context(store, record, embedder)
    return rag.audit(record, embedder, vectors, llm, store, limits, settings)
