"""The one Dagster `Definitions` of llmops (code location `pipelines.definitions`)."""

import dagster as dg

from assets import corpus, index
from llmops.config import Settings
from pipelines.jobs import reindex_job
from pipelines.sensors import documents_changed
from resources.embedder import Embedder
from resources.vector_store import VectorStore


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    return {"embedder": Embedder(), "vector_store": VectorStore(uri=settings.lancedb_uri)}


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([corpus, index]),
    asset_checks=dg.load_asset_checks_from_modules([index]),
    jobs=[reindex_job],
    sensors=[documents_changed],
    resources=build_resources(Settings.from_env()),
)
