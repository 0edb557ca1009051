"""Feedback stage: thumbs up/down rates per prompt version, and thumbs-down answers proposed as
eval cases for a person to approve (`llmops evalset approve`)."""

import dagster as dg

from llmops.config import Settings
from llmops.feedback import feedback_rates, propose_cases, rated_queries, write_proposals
from resources.metadata_store import MetadataStore


@dg.asset(group_name="monitoring")
def feedback_summary(metadata_store: MetadataStore) -> dg.MaterializeResult:
    """Thumbs up and down per day and prompt version; the overall thumbs-down rate is plotted."""
    table = feedback_rates(*rated_queries(metadata_store))
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


@dg.asset(group_name="monitoring")
def feedback_eval_candidates(
    context: dg.AssetExecutionContext, metadata_store: MetadataStore
) -> dg.MaterializeResult:
    """Every thumbs-down answer as a proposed eval case in `evalsets/candidates/`."""
    settings = Settings.from_env()
    proposals = propose_cases(*rated_queries(metadata_store))
    written = write_proposals(proposals, settings.candidates_dir, settings.default_evalset)
    pending = sorted(p.stem for p in settings.candidates_dir.glob("*.json"))
    context.log.info(f"{len(written)} new proposed eval case(s) in {settings.candidates_dir}")
    return dg.MaterializeResult(
        metadata={
            "new": float(len(written)),
            "pending": float(len(pending)),
            "folder": dg.MetadataValue.path(str(settings.candidates_dir)),
            "proposed": dg.MetadataValue.md(
                "\n".join(f"- `{p.name}`" for p in written) or "no new proposal"
            ),
        }
    )
