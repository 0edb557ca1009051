"""The context registry: versions of context configurations and the label that picks one.

Every distinct content of a `contexts/*.yaml` file becomes an immutable version. One version at
a time is `production` (what `llmops ask` and the service retrieve with); the first version
ever registered takes it, and newer versions are labelled `candidate`. `production` moves only
through `llmops context promote`, which the promotion gate guards.
"""

from llmops.errors import InputError
from llmops.prompts.registry import CANDIDATE, PRODUCTION, git_author
from llmops.retrieval.contexts import ContextFile, ContextSpec
from llmops.safepaths import check_name
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import ContextVersion


def spec_of(record: ContextVersion) -> ContextSpec:
    return ContextSpec.model_validate_json(record.content)


def register(files: list[ContextFile], store: MetadataClient) -> list[ContextVersion]:
    """Store every context file whose content is new; returns the versions added."""
    added = []
    for file in files:
        spec = file.spec
        if store.contexts.get(spec.name, spec.version) is not None:
            continue
        record = ContextVersion(
            name=spec.name,
            version=spec.version,
            content=spec.canonical,
            description=spec.description,
            author=git_author(file.path),
        )
        store.contexts.add(record)
        label = CANDIDATE if PRODUCTION in store.contexts.labels() else PRODUCTION
        store.contexts.move_label(
            spec.name, label, spec.version, f"new version from {file.path.name}"
        )
        added.append(record)
    return added


def resolve(store: MetadataClient, ref: str) -> ContextVersion:
    """A stored version from `NAME@VERSION`, `NAME@LABEL`, a label (`production`,
    `candidate`) or `NAME` (its newest version)."""
    labels = store.contexts.labels()
    name, _, selector = labels.get(ref, ref).partition("@")
    check_name(name, "context")
    if selector in labels:
        labelled = labels[selector]
        if labelled.partition("@")[0] != name:
            raise InputError(f"{selector} is {labelled}, not a version of {name!r}")
        selector = labelled.partition("@")[2]
    if selector:
        record = store.contexts.get(name, selector)
    else:
        record = next((v for v in store.contexts.versions() if v.name == name), None)
    if record is None:
        raise InputError(
            f"context {ref!r} not found (labels: "
            f"{', '.join(f'{k}={v}' for k, v in sorted(labels.items())) or 'none'}); "
            "see `llmops context list`"
        )
    return record


def production(store: MetadataClient) -> ContextVersion | None:
    """The version the assistant retrieves with, or None before any is registered."""
    ref = store.contexts.labels().get(PRODUCTION)
    return resolve(store, ref) if ref else None
