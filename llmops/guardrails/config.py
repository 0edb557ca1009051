"""`guardrails.yaml`: which checks run on the input, on the output and on chunks at ingest, in
order, each with its action (`redact`, `block`, `flag`) and thresholds.

`LLMOPS_GUARDRAILS` names the file; the default is `guardrails.yaml` in the working directory
(where `prompts/` and `contexts/` are looked for too), else this checkout's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from llmops.config import PROJECT_ROOT
from llmops.errors import InputError
from llmops.guardrails.injection import InjectionRulesSettings, InjectionSemanticSettings
from llmops.guardrails.leak import PromptLeakSettings
from llmops.guardrails.pii_settings import PiiSettings
from llmops.guardrails.profanity import ProfanitySettings
from llmops.guardrails.topics import ForbiddenTopicsSettings
from llmops.yamlfile import parse_yaml

InputCheck = Annotated[
    PiiSettings | InjectionRulesSettings | InjectionSemanticSettings | ForbiddenTopicsSettings,
    Field(discriminator="check"),
]
OutputCheck = Annotated[
    PiiSettings | PromptLeakSettings | ProfanitySettings, Field(discriminator="check")
]
IngestCheck = Annotated[
    InjectionRulesSettings | InjectionSemanticSettings, Field(discriminator="check")
]


class GuardrailsConfig(BaseModel):
    """The ordered checks of each stage; an empty stage runs nothing."""

    model_config = ConfigDict(extra="forbid")

    input: list[InputCheck] = Field(default_factory=list)
    output: list[OutputCheck] = Field(default_factory=list)
    ingest: list[IngestCheck] = Field(default_factory=list)


def guardrails_path() -> Path:
    if named := os.environ.get("LLMOPS_GUARDRAILS"):
        return Path(named)
    local = Path("guardrails.yaml").resolve()
    return local if local.is_file() else PROJECT_ROOT / "guardrails.yaml"


def load_guardrails_config(path: Path | None = None) -> GuardrailsConfig:
    """The validated configuration at `path` (default `guardrails_path()`)."""
    path = path or guardrails_path()
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(
            f"guardrails configuration {path}: cannot read: {exc.strerror}; set "
            "LLMOPS_GUARDRAILS, or put a guardrails.yaml in the working directory"
        ) from exc
    except OSError as exc:
        raise InputError(f"guardrails configuration {path}: cannot read: {exc.strerror}") from exc
    return parse_yaml(source, path, GuardrailsConfig, "a guardrails configuration")
