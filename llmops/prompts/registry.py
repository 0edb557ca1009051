"""The prompt registry: git for prompts, on top of the metadata store.

Every distinct content of a prompt file becomes an immutable version. The first version of a
prompt is labelled `production`, later ones `candidate`; `promote` and `rollback` move
`production`, and every move is recorded with its time and reason.
"""

import subprocess
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import InputError
from llmops.prompts.specs import PromptFile, PromptSpec, prompt_diff
from llmops.safepaths import check_name
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import PromptVersion

PRODUCTION = "production"
CANDIDATE = "candidate"
ROLLBACK = "rollback: "


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    label: str


def git_author(path: Path) -> str | None:
    """`Name <email>` of the last commit that touched `path`, when it is in a git work tree."""
    try:
        result = subprocess.run(
            ["git", "log", "-1", "--format=%an <%ae>", "--", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None


def spec_of(record: PromptVersion) -> PromptSpec:
    return PromptSpec.model_validate_json(record.content)


def register(files: list[PromptFile], store: MetadataClient) -> list[RegisteredVersion]:
    """Store every prompt file whose content is new; returns the versions added."""
    added = []
    for file in files:
        spec = file.spec
        if store.prompts.get(spec.name, spec.version) is not None:
            continue
        previous = store.prompts.latest(spec.name)
        old_spec = spec_of(previous) if previous else None
        store.prompts.add(
            PromptVersion(
                name=spec.name,
                version=spec.version,
                content=spec.canonical,
                template=spec.template.model_dump_json(),
                settings=spec.model.model_dump(),
                description=spec.description,
                author=git_author(file.path),
                diff=prompt_diff(
                    old_spec, spec, previous.version if previous else "-", spec.version
                ),
            )
        )
        label = CANDIDATE if store.prompts.label(spec.name, PRODUCTION) else PRODUCTION
        store.prompts.move_label(
            spec.name, label, spec.version, f"new version from {file.path.name}"
        )
        added.append(RegisteredVersion(spec.name, spec.version, label))
    return added


def resolve(store: MetadataClient, ref: str) -> PromptVersion:
    """A stored version from `NAME`, `NAME@LABEL` or `NAME@VERSION` (default label production)."""
    name, _, selector = ref.partition("@")
    check_name(name, "prompt")
    selector = selector or PRODUCTION
    version = store.prompts.label(name, selector) or selector
    record = store.prompts.get(name, version)
    if record is None:
        known = ", ".join(sorted(store.prompts.labels(name))) or "none"
        raise InputError(
            f"prompt {ref!r} not found: no version or label {selector!r} of {name!r} "
            f"(labels: {known}); see `llmops prompts list`"
        )
    return record


def promote(store: MetadataClient, name: str, version: str, reason: str) -> None:
    """Make `version` the production version of `name`."""
    resolve(store, f"{name}@{version}")
    store.prompts.move_label(name, PRODUCTION, version, reason)


def production_stack(store: MetadataClient, name: str) -> list[str]:
    """Production versions in the order they were promoted, rolled-back ones popped."""
    stack: list[str] = []
    for move in store.prompts.label_history(name):
        if move.label != PRODUCTION:
            continue
        if move.reason.startswith(ROLLBACK) and stack:
            stack.pop()
        else:
            stack.append(move.to_version)
    return stack


def rollback(store: MetadataClient, name: str, reason: str) -> str:
    """Move `production` back to the version it held before the current one; returns it.

    Repeated rollbacks walk further back, as `git revert` of each promotion would.
    """
    stack = production_stack(store, name)
    if len(stack) < 2:
        raise InputError(f"prompt {name!r} has no earlier production version to roll back to")
    store.prompts.move_label(name, PRODUCTION, stack[-2], f"{ROLLBACK}{reason}")
    return stack[-2]
