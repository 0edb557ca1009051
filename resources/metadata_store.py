"""The metadata store as a Dagster resource: configuration that builds the plain
`llmops.storage.metadata.client.MetadataClient` (prompt and context registries, query log,
feedback, usage ledger, evaluations, alerts, guardrail events and API keys in one SQL database).
"""

from __future__ import annotations

from dagster import ConfigurableResource

from llmops.storage.metadata.client import MetadataClient


class MetadataStore(ConfigurableResource):
    """The metadata database at `url` (a SQLAlchemy URL: `sqlite:///…/llmops.db`,
    `postgresql://…`); `db_schema` puts the tables into that PostgreSQL schema (created if
    missing) instead of the default one. Queries and model calls logged through it belong to
    API key `api_key_id`, if set.
    """

    url: str
    db_schema: str | None = None
    api_key_id: str | None = None

    def get_client(self) -> MetadataClient:
        return MetadataClient(self.url, self.db_schema, self.api_key_id)
