"""Feedback stage: thumbs up/down rates per prompt version, and thumbs-down answers proposed as
eval cases for a person to approve (`llmops evalset approve`)."""

from collections.abc import Sequence

import dagster as dg

from llmops.config import Settings
from llmops.evaluation.feedback import (
    CandidateCase,
    feedback_rates,
    propose_cases,
    rated_queries,
    write_proposals,
)
from llmops.markdown import md_text
from resources.metadata_store import MetadataStore


@dg.asset(group_name="monitoring")
def feedback_summary(metadata_store: MetadataStore) -> dg.MaterializeResult:
    """Thumbs up and down per day and prompt version; the overall thumbs-down rate is plotted."""
    table = feedback_rates(*rated_queries(metadata_store.get_client()))
    up, down = int(table["up"].sum()), int(table["down"].sum())
    rows = "\n".join(
        f"| {r.day} | {r.prompt} | {r.up} | {r.down} | {r.down_rate:.0%} |"
        for r in table.itertuples()
    )
    return dg.MaterializeResult(
        metadata={
            "thumbs_up": float(up),
            "thumbs_down": float(down),
            "down_rate": down / (up + down) if up + down else 0.0,
            "by_day_and_prompt": dg.MetadataValue.md(
                "| day | prompt | up | down | down rate |\n|---|---|---|---|---|\n" + rows
            ),
        }
    )


def proposals_table(proposals: Sequence[CandidateCase], new_ids: set[str]) -> str:
    """The new proposals with the question and the user's comment, both escaped: they are
    user text, shown in the UI as typed, never as Markdown."""
    rows = [
        f"| {md_text(p.id)} | {md_text(p.question)} | {md_text(p.comment or '')} |"
        for p in proposals
        if p.id in new_ids
    ]
    if not rows:
        return "no new proposal"
    return "| case | question | comment |\n|---|---|---|\n" + "\n".join(rows)


@dg.asset(group_name="monitoring")
def feedback_eval_candidates(
    context: dg.AssetExecutionContext, metadata_store: MetadataStore
) -> dg.MaterializeResult:
    """Every thumbs-down answer as a proposed eval case in `evalsets/candidates/`."""
    settings = Settings.from_env()
    proposals = propose_cases(*rated_queries(metadata_store.get_client()))
    written = write_proposals(proposals, settings.candidates_dir, settings.default_evalset)
    pending = sorted(p.stem for p in settings.candidates_dir.glob("*.json"))
    context.log.info(f"{len(written)} new proposed eval case(s) in {settings.candidates_dir}")
    return dg.MaterializeResult(
        metadata={
            "new": float(len(written)),
            "pending": float(len(pending)),
            "folder": dg.MetadataValue.path(str(settings.candidates_dir)),
            "proposed": dg.MetadataValue.md(proposals_table(proposals, {p.stem for p in written})),
        }
    )
