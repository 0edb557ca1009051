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
from resources.metadata_store import MetadataStore, PromptVersion

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


def register(files: list[PromptFile], store: MetadataStore) -> list[RegisteredVersion]:
    """Store every prompt file whose content is new; returns the versions added."""
    added = []
    for file in files:
        spec = file.spec
        if store.prompt_version(spec.name, spec.version) is not None:
            continue
        previous = store.latest_prompt_version(spec.name)
        old_spec = spec_of(previous) if previous else None
        store.add_prompt_version(
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
        label = CANDIDATE if store.label(spec.name, PRODUCTION) else PRODUCTION
        store.move_label(spec.name, label, spec.version, f"new version from {file.path.name}")
        added.append(RegisteredVersion(spec.name, spec.version, label))
    return added


def resolve(store: MetadataStore, ref: str) -> PromptVersion:
    """A stored version from `NAME`, `NAME@LABEL` or `NAME@VERSION` (default label production)."""
    name, _, selector = ref.partition("@")
    check_name(name, "prompt")
    selector = selector or PRODUCTION
    version = store.label(name, selector) or selector
    record = store.prompt_version(name, version)
    if record is None:
        known = ", ".join(sorted(store.labels(name))) or "none"
        raise InputError(
            f"prompt {ref!r} not found: no version or label {selector!r} of {name!r} "
            f"(labels: {known}); see `llmops prompts list`"
        )
    return record


def promote(store: MetadataStore, name: str, version: str, reason: str) -> None:
    """Make `version` the production version of `name`."""
    resolve(store, f"{name}@{version}")
    store.move_label(name, PRODUCTION, version, reason)


def production_stack(store: MetadataStore, name: str) -> list[str]:
    """Production versions in the order they were promoted, rolled-back ones popped."""
    stack: list[str] = []
    for move in store.label_history(name):
        if move.label != PRODUCTION:
            continue
        if move.reason.startswith(ROLLBACK) and stack:
            stack.pop()
        else:
            stack.append(move.to_version)
    return stack


def rollback(store: MetadataStore, name: str, reason: str) -> str:
    """Move `production` back to the version it held before the current one; returns it.

    Repeated rollbacks walk further back, as `git revert` of each promotion would.
    """
    stack = production_stack(store, name)
    if len(stack) < 2:
        raise InputError(f"prompt {name!r} has no earlier production version to roll back to")
    store.move_label(name, PRODUCTION, stack[-2], f"{ROLLBACK}{reason}")
    return stack[-2]
