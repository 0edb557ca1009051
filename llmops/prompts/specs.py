"""Prompt source files: parse and validate `prompts/*.yaml`, version them by content.

A prompt file holds `name`, `description`, a `template` (`system` and `user` texts with
`{question}` and `{context}` placeholders, Python format syntax: write `{{`/`}}` for literal
braces) and `model` settings. Its version is a hash of the validated content, so editing a
comment or re-indenting the YAML is not a new version, but any change the model would see is.
"""

import difflib
import string
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmops.yamlfile import VersionedSpec, load_named_files, parse_yaml

REQUIRED_VARIABLES = frozenset({"question", "context"})


class ModelSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_output_tokens: int = Field(256, ge=1, le=8192)


class PromptTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(min_length=1)
    user: str = Field(min_length=1)

    @model_validator(mode="after")
    def _variables(self) -> "PromptTemplate":
        found: set[str] = set()
        for part in ("system", "user"):
            try:
                found |= template_variables(getattr(self, part))
            except ValueError as exc:
                raise ValueError(f"{part}: {exc} (write {{{{ and }}}} for braces)") from exc
        if missing := REQUIRED_VARIABLES - found:
            raise ValueError(f"lacks the variable(s) {', '.join(sorted(missing))}")
        if unknown := found - REQUIRED_VARIABLES:
            raise ValueError(
                f"uses unknown variable(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(sorted(REQUIRED_VARIABLES))}"
            )
        return self


def template_variables(text: str) -> set[str]:
    """Placeholder names of a format string; raises ValueError on unbalanced braces."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


class PromptSpec(VersionedSpec):
    """One validated prompt: what a `prompts/*.yaml` file must contain, and nothing else."""

    template: PromptTemplate
    model: ModelSettings = ModelSettings()


@dataclass(frozen=True)
class PromptFile:
    path: Path
    source: str
    spec: PromptSpec


def parse_prompt(source: str, path: Path) -> PromptSpec:
    """Validate one prompt file's text; errors name the file and line."""
    return parse_yaml(source, path, PromptSpec, "a prompt file")


def load_prompt_files(folder: Path) -> list[PromptFile]:
    """Every `*.yaml` / `*.yml` of `folder`, validated; two files may not share a name."""
    return [PromptFile(*file) for file in load_named_files(folder, PromptSpec, "prompt")]


class _BlockStyleDumper(yaml.SafeDumper):
    """Dumps multi-line strings as `|` blocks, so a diff shows the prompt as it was written."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def _as_yaml(spec: PromptSpec) -> str:
    return yaml.dump(
        spec.model_dump(mode="json"), Dumper=_BlockStyleDumper, sort_keys=True, width=100
    )


def prompt_diff(old: PromptSpec | None, new: PromptSpec, old_label: str, new_label: str) -> str:
    """Unified diff of two versions' validated content (YAML-rendered, keys sorted)."""
    before = _as_yaml(old) if old else ""
    after = _as_yaml(new)
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), old_label, new_label
    )
    return "".join(lines)
