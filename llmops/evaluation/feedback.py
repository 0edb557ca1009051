"""The feedback loop: thumbs-down answers become proposed eval cases, a person approves them.

A proposal is one JSON file in `evalsets/candidates/` (reviewable in a pull request like any
other file); `approve` turns it into an `EvalCase` with the reference answer the person wrote,
appends it to an eval set and removes the proposal, so the next evaluation scores it.
"""

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops.errors import InputError
from llmops.evaluation.evalsets import EvalCase, load_evalset
from llmops.jsonl import read_text
from llmops.safepaths import inside
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.records import Feedback, QueryRecord

FEEDBACK_TAG = "feedback"


class CandidateCase(BaseModel):
    """A question users were unhappy with, waiting for a person to write the right answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    question: str
    answer_given: str
    comment: str | None = None
    sources: tuple[str, ...] = ()
    query_id: str
    prompt: str
    feedback_at: datetime


def rated_queries(store: MetadataClient) -> tuple[list[Feedback], dict[str, QueryRecord]]:
    """All feedback, and the logged queries it rates by id (not the whole query log)."""
    feedback = store.feedback.find()
    queries = store.queries.find(ids={f.query_id for f in feedback})
    return feedback, {q.query_id: q for q in queries}


def candidate_id(query_id: str) -> str:
    return f"fb-{query_id[:8]}"


def propose_cases(
    feedback: Sequence[Feedback], queries: dict[str, QueryRecord]
) -> list[CandidateCase]:
    """One proposal per query with a thumbs-down (its latest comment), oldest first."""
    latest: dict[str, Feedback] = {}
    for item in feedback:
        if item.rating == "down" and item.query_id in queries:
            latest[item.query_id] = item
    proposals = []
    for query_id, item in latest.items():
        query = queries[query_id]
        proposals.append(
            CandidateCase(
                id=candidate_id(query_id),
                question=query.question,
                answer_given=query.answer,
                comment=item.comment,
                sources=tuple(dict.fromkeys(c.source for c in query.chunks)),
                query_id=query_id,
                prompt=_prompt_of(query),
                feedback_at=item.created_at,
            )
        )
    return proposals


def write_proposals(proposals: Sequence[CandidateCase], folder: Path, evalset: Path) -> list[Path]:
    """Write the proposals not yet in `folder` nor approved into `evalset`; returns new files.

    An existing proposal file is left as it is: a person may be editing it.
    """
    approved = {c.id for c in load_evalset(evalset)} if evalset.is_file() else set()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for proposal in proposals:
        path = proposal_path(folder, proposal.id)
        if proposal.id in approved or path.exists():
            continue
        path.write_text(proposal.model_dump_json(indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def proposal_path(folder: Path, case_id: str) -> Path:
    """The proposal file of `case_id` in `folder`; an id that leaves it is refused, since
    approving a proposal deletes its file."""
    return inside(folder, f"{case_id}.json", "proposed eval case")


def load_proposal(folder: Path, case_id: str) -> CandidateCase:
    path = proposal_path(folder, case_id)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.json"))) or "none"
        raise InputError(f"no proposed eval case {case_id!r} in {folder} (proposed: {known})")
    try:
        return CandidateCase.model_validate(json.loads(read_text(path)))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InputError(f"{path}: not a proposed eval case: {str(exc).splitlines()[0]}") from exc


def approve(
    folder: Path,
    case_id: str,
    reference_answer: str,
    evalset: Path,
    docs_dir: Path,
    gold_sources: Sequence[str] | None = None,
) -> EvalCase:
    """Append the proposal as an eval case to `evalset` and remove the proposal.

    `gold_sources` default to the documents the rejected answer cited; give them explicitly
    when those were the wrong ones (an empty list marks a question the handbook cannot answer).
    Everything is validated before the eval set is touched, so a bad approval changes nothing.
    """
    if not reference_answer.strip():
        raise InputError("--reference-answer is empty")
    proposal = load_proposal(folder, case_id)
    cases = load_evalset(evalset, docs_dir)
    if any(c.id == case_id for c in cases):
        raise InputError(f"{evalset} already has a case {case_id!r}")
    case = EvalCase(
        id=case_id,
        question=proposal.question,
        reference_answer=reference_answer.strip(),
        gold_sources=tuple(proposal.sources if gold_sources is None else gold_sources),
        tags=(FEEDBACK_TAG,),
    )
    missing = [s for s in case.gold_sources if not (docs_dir / s).is_file()]
    if missing:
        raise InputError(f"gold source(s) {', '.join(missing)} not found in {docs_dir}")
    text = evalset.read_text(encoding="utf-8")
    separator = "" if not text or text.endswith("\n") else "\n"
    with evalset.open("a", encoding="utf-8") as out:
        out.write(separator + case.model_dump_json() + "\n")
    proposal_path(folder, case_id).unlink()
    return case


def feedback_rates(feedback: Sequence[Feedback], queries: dict[str, QueryRecord]) -> pd.DataFrame:
    """Thumbs up and down per UTC day and prompt version, with the share of thumbs-down."""
    rows = [
        {
            "day": item.created_at.date().isoformat(),
            "prompt": _prompt_of(queries[item.query_id]),
            "up": int(item.rating == "up"),
            "down": int(item.rating == "down"),
        }
        for item in feedback
        if item.query_id in queries
    ]
    if not rows:
        return pd.DataFrame(columns=["day", "prompt", "up", "down", "down_rate"])
    table = pd.DataFrame(rows).groupby(["day", "prompt"], as_index=False)[["up", "down"]].sum()
    table["down_rate"] = table["down"] / (table["up"] + table["down"])
    return table


def _prompt_of(query: QueryRecord) -> str:
    return f"{query.prompt_name}@{query.prompt_version}"
