"""The one Dagster `Definitions` of llmops (code location `pipelines.definitions`)."""

import dagster as dg

from assets import corpus, index, prompts
from llmops.config import Settings
from pipelines.jobs import register_prompts_job, reindex_job
from pipelines.sensors import documents_changed, new_prompt_version
from resources.embedder import Embedder
from resources.metadata_store import MetadataStore
from resources.vector_store import VectorStore


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {
        "embedder": Embedder(),
        "vector_store": VectorStore(uri=settings.lancedb_uri),
        "metadata_store": MetadataStore(url=settings.database_url),
    }


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([corpus, index, prompts]),
    asset_checks=dg.load_asset_checks_from_modules([index]),
    jobs=[reindex_job, register_prompts_job],
    sensors=[documents_changed, new_prompt_version],
    resources=build_resources(Settings.from_env()),
)
