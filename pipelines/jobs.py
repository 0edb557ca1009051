"""Jobs: the reindex job runs the corpus and index stages in one process."""

import dagster as dg

# In-process: the embedding model is loaded once per run, and nothing forks after torch loads.
reindex_job = dg.define_asset_job(
    "reindex",
    selection=dg.AssetSelection.groups("corpus", "index"),
    executor_def=dg.in_process_executor,
    description="Scan the docs folder, chunk it, and bring the vector table up to date.",
)

register_prompts_job = dg.define_asset_job(
    "register_prompts",
    selection=dg.AssetSelection.groups("prompts"),
    description="Store new contents of the prompt files as versions.",
)
