"""The `pii` entry of guardrails.yaml and the entity types it may name.

Kept apart from the check itself so that reading the configuration does not import Presidio
and spaCy (seconds of start-up for every command that never redacts).
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmops.errors import InputError
from llmops.guardrails.verdicts import Action

PATTERN_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
)
SECRET_ENTITIES = ("API_KEY", "ACCESS_TOKEN", "PRIVATE_KEY")
NER_ENTITIES = ("PERSON", "LOCATION")
KNOWN_ENTITIES = PATTERN_ENTITIES + SECRET_ENTITIES + NER_ENTITIES


class PiiSettings(BaseModel):
    """The `pii` entry of guardrails.yaml."""

    model_config = ConfigDict(extra="forbid")

    check: Literal["pii"] = "pii"
    enabled: bool = True
    action: Action = "redact"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    entities: list[str] = Field(
        default_factory=lambda: list(PATTERN_ENTITIES + SECRET_ENTITIES), min_length=1
    )
    nlp_model: str | None = None

    @model_validator(mode="after")
    def _check_entities(self) -> PiiSettings:
        unknown = sorted(set(self.entities) - set(KNOWN_ENTITIES))
        if unknown:
            raise InputError(
                f"pii: unknown entities {unknown}; known entities are {list(KNOWN_ENTITIES)}"
            )
        needs_ner = sorted(set(self.entities) & set(NER_ENTITIES))
        if needs_ner and not self.nlp_model:
            raise InputError(
                f"pii: {needs_ner} need a named-entity model; install a spaCy pipeline "
                "(e.g. `pip install en_core_web_sm`) and set `nlp_model: en_core_web_sm`, "
                "or remove them from `entities`"
            )
        if self.nlp_model and importlib.util.find_spec(self.nlp_model) is None:
            raise InputError(
                f"pii: spaCy model {self.nlp_model!r} is not installed (it is never "
                "downloaded at run time); install it or unset `nlp_model`"
            )
        return self
