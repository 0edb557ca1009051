"""The scheduled drift check: two windows of questions → semantic verdict, explanation, and the
reports a person opens (evidently's HTML page, our JSON) under `LLMOPS_HOME/reports/drift/`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmops.monitoring.drift import (
    DriftReport,
    compare_windows,
    evidently_html,
    evidently_installed,
    explain,
)
from llmops.monitoring.query_embeddings import QueryWindow
from llmops.monitoring.windows import DriftWindows

DRIFT = "drift"
NO_DRIFT = "no drift"
INSUFFICIENT = "insufficient data"


@dataclass(frozen=True)
class DriftCheck:
    """One check's outcome; `report` is None when a window had too few questions to test."""

    windows: DriftWindows
    reference_count: int
    current_count: int
    report: DriftReport | None
    reason: str
    html_path: Path | None
    json_path: Path | None
    seconds: float

    @property
    def status(self) -> str:
        if self.report is None:
            return INSUFFICIENT
        return DRIFT if self.report.result.drift else NO_DRIFT

    def as_dict(self) -> dict[str, Any]:
        """The `llmops drift` JSON fields plus the windows compared."""
        return {
            "status": self.status,
            "current_window": str(self.windows.current),
            "reference": self.windows.describe_reference(),
            "reason": self.reason,
            **(self.report.to_dict() if self.report else {}),
            "html_report": str(self.html_path) if self.html_path else None,
        }


def run_drift_check(
    windows: DriftWindows,
    reference: QueryWindow,
    current: QueryWindow,
    *,
    min_queries: int,
    out_dir: Path,
    coverage: Callable[[list[str]], list[float]] | None = None,
    with_html: bool = True,
) -> DriftCheck:
    """Compare the windows when both hold at least `min_queries` questions, and write
    `evidently.html` and `drift.json` into `out_dir` (replacing an earlier run of the same
    window)."""
    started = time.perf_counter()
    sizes = (len(reference.texts), len(current.texts))
    if min(sizes) < min_queries:
        reason = (
            f"not enough questions to test: {sizes[1]} in the current window {windows.current}, "
            f"{sizes[0]} in {windows.describe_reference()}; at least {min_queries} each "
            "(LLMOPS_DRIFT_MIN_QUERIES)"
        )
        return DriftCheck(windows, *sizes, None, reason, None, None, time.perf_counter() - started)
    report = compare_windows(
        reference.texts, reference.vectors, current.texts, current.vectors, coverage
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = None
    if with_html and evidently_installed():
        html_path = out_dir / "evidently.html"
        html_path.write_text(evidently_html(reference.vectors, current.vectors), encoding="utf-8")
    check = DriftCheck(
        windows,
        *sizes,
        report,
        explain(report),
        html_path,
        out_dir / "drift.json",
        time.perf_counter() - started,
    )
    check.json_path.write_text(json.dumps(check.as_dict(), indent=2) + "\n", encoding="utf-8")
    return check
