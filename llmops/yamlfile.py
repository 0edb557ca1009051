"""Validate a YAML file against a pydantic model; every error names the file and the line."""

import hashlib
import json
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops.errors import InputError
from llmops.safepaths import NAME_MAX_LENGTH, NAME_PATTERN

Model = TypeVar("Model", bound=BaseModel)


class VersionedSpec(BaseModel):
    """A named, described file whose version is a hash of its validated content: editing a
    comment or re-indenting the YAML is not a new version, any change of meaning is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX_LENGTH)
    description: str = Field(min_length=1)

    @property
    def canonical(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)

    @property
    def version(self) -> str:
        return hashlib.sha256(self.canonical.encode()).hexdigest()[:12]


def _line_of(node: yaml.Node | None, location: tuple) -> int | None:
    """1-based line of the YAML node at a pydantic error location, or of its nearest parent.
    Location parts that are not keys of the file (a union's tag) are skipped."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in location:
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
            continue
        if not isinstance(node, yaml.MappingNode):
            break
        match = next((v for k, v in node.value if k.value == key), None)
        key_node = next((k for k, _ in node.value if k.value == key), None)
        if match is None:
            continue
        node = match
        line = (key_node or match).start_mark.line + 1
    return line


def parse_yaml(source: str, path: Path, model: type[Model], what: str) -> Model:
    """`source` (the text of `path`) as a `model`; `what` names the file kind in errors."""
    try:
        data = yaml.safe_load(source)
        root = yaml.compose(source)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise InputError(f"{path}:{line}: invalid YAML: {exc.problem}") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}:1: {what} must be a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        location = tuple(error["loc"])
        field = ".".join(str(p) for p in location) or what
        message = error["msg"].removeprefix("Value error, ")
        raise InputError(f"{path}:{_line_of(root, location)}: {field}: {message}") from exc


Spec = TypeVar("Spec", bound=VersionedSpec)


def load_named_files(folder: Path, model: type[Spec], what: str) -> list[tuple[Path, str, Spec]]:
    """Every `*.yaml` / `*.yml` of `folder` as (path, text, validated `model`); the models'
    `name` fields must differ, since a name is what versions and labels hang on."""
    if not folder.is_dir():
        raise InputError(f"{what} folder {folder} does not exist")
    files: list[tuple[Path, str, Spec]] = []
    seen: dict[str, Path] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        source = path.read_text(encoding="utf-8")
        spec = parse_yaml(source, path, model, f"a {what} file")
        name = spec.name
        if name in seen:
            raise InputError(f"{path}: {what} name {name!r} is also used by {seen[name]}")
        seen[name] = path
        files.append((path, source, spec))
    return files
