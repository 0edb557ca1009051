"""The judge model: which model judges, with what limits (from the environment), and how its
replies are read. Free of ragas, so settings load without the `judge` extra."""

import json
import os
import re
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from llmops.config import positive_int_env
from llmops.errors import InputError, LlmopsError

T = TypeVar("T", bound=BaseModel)
_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class JudgeOutputError(LlmopsError):
    """The judge's reply was not the JSON the metric asked for."""


@dataclass(frozen=True)
class JudgeSettings:
    """Which model judges, how often each question is judged, and its per-call token limits.

    Judge prompts carry ragas' instructions, examples and every retrieved passage, so they get
    their own input limit (`LLMOPS_JUDGE_MAX_INPUT_TOKENS`, default 8192); the daily budget is
    the one every call shares.
    """

    model: str
    repeats: int = 1
    temperature: float = 0.0
    max_input_tokens: int = 8192
    max_output_tokens: int = 1024

    @classmethod
    def from_env(cls) -> "JudgeSettings | None":
        """The configured judge, or None when `LLMOPS_JUDGE_MODEL` is unset."""
        model = os.environ.get("LLMOPS_JUDGE_MODEL") or None
        if model is None:
            return None
        if not (os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY")):
            raise InputError(
                f"LLMOPS_JUDGE_MODEL={model} needs an OpenAI-compatible endpoint: set "
                "OPENAI_BASE_URL and/or OPENAI_API_KEY (the local 135M model is not a judge)"
            )
        return cls(
            model=model,
            repeats=positive_int_env("LLMOPS_JUDGE_REPEATS", 1),
            max_input_tokens=positive_int_env("LLMOPS_JUDGE_MAX_INPUT_TOKENS", 8192),
            max_output_tokens=positive_int_env("LLMOPS_JUDGE_MAX_OUTPUT_TOKENS", 1024),
        )


NOT_CONFIGURED = (
    "no judge model configured: set LLMOPS_JUDGE_MODEL (with OPENAI_BASE_URL/OPENAI_API_KEY) "
    "to an OpenAI-compatible model; the local 135M model is not a judge"
)


def parse_reply(text: str, model: type[T]) -> T:
    """The first JSON object of `text` as `model` (judges wrap JSON in prose and code fences)."""
    found = _JSON_OBJECT.search(text)
    if found is None:
        raise JudgeOutputError(f"judge reply has no JSON object: {text[:120]!r}")
    try:
        return model.model_validate(json.loads(found.group(0)))
    except (json.JSONDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise JudgeOutputError(f"judge reply is not a valid {model.__name__}: {first}") from exc
