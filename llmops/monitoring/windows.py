"""Which queries a scheduled drift check compares: the current window and its reference.

The reference is configurable (`LLMOPS_DRIFT_REFERENCE`):

- `previous` (default): the window of the same length just before the current one;
- `YYYY-MM-DD..YYYY-MM-DD`: a fixed baseline period (both days included), e.g. the first
  weeks after launch, once a person has looked at them;
- `evalset`: the questions of the eval set, i.e. "what we test for".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta

from llmops.config import positive_int_env
from llmops.errors import InputError

PREVIOUS = "previous"
EVALSET = "evalset"
DEFAULT_WINDOW_DAYS = 7
DEFAULT_MIN_QUERIES = 20


@dataclass(frozen=True)
class DayRange:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InputError(f"day range ends ({self.end}) before it starts ({self.start})")

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"

    @classmethod
    def parse(cls, text: str) -> DayRange:
        """`YYYY-MM-DD..YYYY-MM-DD`."""
        first, sep, last = text.partition("..")
        try:
            if not sep:
                raise ValueError
            return cls(date.fromisoformat(first.strip()), date.fromisoformat(last.strip()))
        except ValueError:
            raise InputError(
                f"drift reference {text!r}: expected `{PREVIOUS}`, `{EVALSET}` or a period "
                "YYYY-MM-DD..YYYY-MM-DD"
            ) from None


@dataclass(frozen=True)
class DriftWindows:
    """The current window and what it is compared with (`reference` is None for the eval set)."""

    current: DayRange
    reference: DayRange | None
    reference_kind: str

    def describe_reference(self) -> str:
        if self.reference is None:
            return "the eval set's questions"
        return f"{self.reference_kind} window {self.reference}"


@dataclass(frozen=True)
class DriftSettings:
    """How the scheduled drift check picks its windows, from the environment."""

    reference: str = PREVIOUS
    window_days: int = DEFAULT_WINDOW_DAYS
    min_queries: int = DEFAULT_MIN_QUERIES

    def __post_init__(self) -> None:
        if self.window_days < 1:
            raise InputError(f"LLMOPS_DRIFT_WINDOW_DAYS must be ≥ 1, got {self.window_days}")
        if self.min_queries < 2:
            raise InputError(f"LLMOPS_DRIFT_MIN_QUERIES must be ≥ 2, got {self.min_queries}")
        if self.reference not in (PREVIOUS, EVALSET):
            DayRange.parse(self.reference)

    @classmethod
    def from_env(cls) -> DriftSettings:
        return cls(
            reference=os.environ.get("LLMOPS_DRIFT_REFERENCE") or PREVIOUS,
            window_days=positive_int_env("LLMOPS_DRIFT_WINDOW_DAYS", DEFAULT_WINDOW_DAYS),
            min_queries=positive_int_env("LLMOPS_DRIFT_MIN_QUERIES", DEFAULT_MIN_QUERIES),
        )

    def windows(self, last_day: date) -> DriftWindows:
        """The current window ends with `last_day`; the reference follows the setting."""
        current = DayRange(last_day - timedelta(days=self.window_days - 1), last_day)
        if self.reference == EVALSET:
            return DriftWindows(current, None, EVALSET)
        if self.reference == PREVIOUS:
            end = current.start - timedelta(days=1)
            previous = DayRange(end - timedelta(days=self.window_days - 1), end)
            return DriftWindows(current, previous, PREVIOUS)
        baseline = DayRange.parse(self.reference)
        if baseline.end >= current.start:
            raise InputError(
                f"LLMOPS_DRIFT_REFERENCE {baseline} overlaps the current window {current}: "
                "a baseline period must end before the window it is compared with"
            )
        return DriftWindows(current, baseline, "baseline")
