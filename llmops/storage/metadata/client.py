"""`MetadataClient`: the metadata store's facade, one repository per domain.

    store = MetadataClient("sqlite:///…/llmops.db")
    store.prompts.move_label("support-bot", "production", "3f2a…", "passed the gate")
    store.queries.get(query_id)

Plain Python: the Dagster resource in `resources/metadata_store.py` only builds one.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from llmops.storage.metadata.alerts import Alerts
from llmops.storage.metadata.api_keys import ApiKeys
from llmops.storage.metadata.engine import Database
from llmops.storage.metadata.evaluations import Evaluations
from llmops.storage.metadata.guardrail_events import GuardrailEvents
from llmops.storage.metadata.queries import FeedbackLog, QueryLog
from llmops.storage.metadata.registry import ContextRegistry, PromptRegistry
from llmops.storage.metadata.usage import RateLimits, UsageLedger


class MetadataClient:
    """Prompt and context registries, query log, feedback, usage ledger, evaluations, alerts,
    guardrail events and API keys in one SQL database at `url`.

    `url` is a SQLAlchemy URL (`sqlite:///…/llmops.db`, `postgresql://…`); `db_schema` puts the
    tables into that PostgreSQL schema (created if missing) instead of the default one. Queries
    and model calls logged through a client of `api_key_id` belong to that API key.
    """

    def __init__(self, url: str, db_schema: str | None = None, api_key_id: str | None = None):
        self.url = url
        self.db_schema = db_schema
        self.api_key_id = api_key_id
        self._database = database = Database(url, db_schema)
        sessions = database.session
        self.prompts = PromptRegistry(sessions)
        self.contexts = ContextRegistry(sessions)
        self.queries = QueryLog(sessions, api_key_id)
        self.feedback = FeedbackLog(sessions)
        self.usage = UsageLedger(sessions, api_key_id)
        self.rate_limits = RateLimits(sessions)
        self.evaluations = Evaluations(sessions)
        self.alerts = Alerts(sessions)
        self.guardrail_events = GuardrailEvents(sessions)
        self.api_keys = ApiKeys(sessions)

    def for_key(self, api_key_id: str | None) -> MetadataClient:
        """This store, attributing the queries and model calls it logs to API key `api_key_id`."""
        return MetadataClient(self.url, self.db_schema, api_key_id)

    @property
    def engine(self) -> Engine:
        return self._database.engine

    def migrate(self) -> None:
        """Bring the schema to the newest migration (see `Database.migrate`)."""
        self._database.migrate()

    def session(self, write: bool = True) -> AbstractContextManager[Session]:
        """A session in one transaction, for bulk work no repository offers (see
        `Database.session`)."""
        return self._database.session(write)
