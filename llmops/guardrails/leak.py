"""Prompt leaks in answers: the request's canary token, or long verbatim runs of the system text.

The canary (`templating.canary_for`) is a per-request token placed in the system text only;
nothing else can make the model write it. Verbatim runs catch a model that recites its
instructions without the token. Word n-gram matching is written here because no library we use
finds shared word runs with their character offsets.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from llmops.guardrails.verdicts import Action, Span, Verdict

_WORD = re.compile(r"\w+")
LEAK_MESSAGE = "I can't share how I was instructed. Please ask about the handbook."


class PromptLeakSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    check: Literal["prompt_leak"] = "prompt_leak"
    enabled: bool = True
    action: Action = "block"
    min_verbatim_words: int = Field(default=12, ge=4)


def verbatim_runs(text: str, source: str, n: int) -> list[tuple[int, int]]:
    """Character spans of `text` made of runs of ≥ `n` consecutive words that also occur
    consecutively in `source` (case-insensitive), merged where they overlap."""
    words = [(m.group().lower(), m.start(), m.end()) for m in _WORD.finditer(text)]
    source_words = [w.lower() for w in _WORD.findall(source)]
    grams = {tuple(source_words[i : i + n]) for i in range(len(source_words) - n + 1)}
    runs: list[tuple[int, int]] = []
    for i in range(len(words) - n + 1):
        if tuple(w for w, _, _ in words[i : i + n]) in grams:
            start, end = words[i][1], words[i + n - 1][2]
            if runs and start <= runs[-1][1]:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((start, end))
    return runs


class PromptLeakCheck:
    """Blocks an answer holding the canary or reciting the system text; built per request."""

    name = "prompt_leak"
    needs_vector = False

    def __init__(self, settings: PromptLeakSettings, system_text: str, canary: str) -> None:
        self.action = settings.action
        self.min_words = settings.min_verbatim_words
        self.system_text = system_text
        self.canary = canary

    def inspect(self, text: str, vector: np.ndarray | None = None) -> Verdict:
        spans = (
            [
                Span(type="CANARY", start=m.start(), end=m.end())
                for m in re.finditer(re.escape(self.canary), text)
            ]
            if self.canary
            else []
        )
        spans += [
            Span(type="SYSTEM_TEXT", start=s, end=e)
            for s, e in verbatim_runs(text, self.system_text, self.min_words)
        ]
        leaked = sum(s.end - s.start for s in spans if s.type == "SYSTEM_TEXT")
        if any(s.type == "CANARY" for s in spans):
            reason = "the answer contains the canary token of the system text"
        elif spans:
            reason = f"the answer recites {leaked} characters of the system text verbatim"
        else:
            reason = "no canary, no verbatim system text"
        return Verdict(
            check=self.name,
            action=self.action,
            triggered=bool(spans),
            reason=reason,
            score=1.0 if spans else 0.0,
            spans=spans,
        )
