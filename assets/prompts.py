"""Prompts stage: every distinct content of `prompts/*.yaml` as an immutable, labelled version."""

from pathlib import Path

import dagster as dg

from llmops.config import Settings
from llmops.prompts.registry import CANDIDATE, PRODUCTION, register
from llmops.prompts.specs import load_prompt_files
from resources.metadata_store import MetadataStore

PROMPT_VERSIONS = dg.DynamicPartitionsDefinition(name="prompt_versions")
"""One partition per registered prompt version, keyed `NAME@VERSION` (the evaluation assets)."""


def partition_key(name: str, version: str) -> str:
    return f"{name}@{version}"


class PromptsConfig(dg.Config):
    prompts_dir: str | None = None
    """Folder of prompt files; unset means `LLMOPS_PROMPTS_DIR` (default `prompts/`)."""


@dg.asset(group_name="prompts")
def prompt_versions(
    context: dg.AssetExecutionContext, config: PromptsConfig, metadata_store: MetadataStore
) -> dg.MaterializeResult:
    """The prompt registry: new file contents become versions (first `production`, then
    `candidate`); labels move only through promote and rollback."""
    folder = Path(config.prompts_dir) if config.prompts_dir else Settings.from_env().prompts_dir
    files = load_prompt_files(folder)
    store = metadata_store.get_client()
    added = register(files, store)
    context.instance.add_dynamic_partitions(
        PROMPT_VERSIONS.name,
        [partition_key(v.name, v.version) for v in store.prompts.versions()],
    )
    rows = []
    for file in files:
        labels = store.prompts.labels(file.spec.name)
        rows.append(
            f"| {file.spec.name} | {labels.get(PRODUCTION, '')} | {labels.get(CANDIDATE, '')} "
            f"| {len(store.prompts.versions(file.spec.name))} |"
        )
    return dg.MaterializeResult(
        metadata={
            "prompts": float(len(files)),
            "new_versions": float(len(added)),
            "added": [f"{v.name}@{v.version} ({v.label})" for v in added],
            "labels": dg.MetadataValue.md(
                "| prompt | production | candidate | versions |\n|---|---|---|---|\n"
                + "\n".join(rows)
            ),
        }
    )
