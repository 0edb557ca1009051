"""`llmops prompts`: the prompt registry's versions, labels, promotion and rollback."""

import click

from llmops.entrypoints.cli.app import PromotionRefusedError, cli, emit, promote_options
from llmops.entrypoints.clients import synced_store
from llmops.entrypoints.tables import text_table


@cli.group()
def prompts() -> None:
    """The prompt registry: versions of prompts/*.yaml, labels, promotion and rollback.

    Every command first registers new contents of the prompt files (first version of a prompt
    becomes `production`, later ones `candidate`).
    """


@prompts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def prompts_list(as_json: bool) -> None:
    """Every prompt with its versions (newest first) and labels."""
    store = synced_store()
    listing: dict[str, list[dict]] = {}
    for record in store.prompts.versions():
        labels = store.prompts.labels(record.name)
        listing.setdefault(record.name, []).append(
            {
                "version": record.version,
                "labels": sorted(k for k, v in labels.items() if v == record.version),
                "created_at": record.created_at.isoformat(),
                "author": record.author,
                "description": record.description,
            }
        )
    rows = [
        (
            f"{name}@{v['version']}",
            ", ".join(v["labels"]) or "-",
            v["created_at"][:19].replace("T", " "),
            v["author"],
        )
        for name, versions in sorted(listing.items())
        for v in versions
    ]
    human = text_table(("prompt", "labels", "created (UTC)", "author"), rows) if rows else ""
    emit({"prompts": listing}, as_json, human or "no prompts")


@prompts.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def prompts_show(ref: str, as_json: bool) -> None:
    """One version: REF is NAME, NAME@LABEL or NAME@VERSION (default: production).

    Shows its content, its diff against the version before it, and the label history.
    """
    from llmops.prompts.registry import resolve, spec_of

    store = synced_store()
    record = resolve(store, ref)
    history = [
        {
            "label": m.label,
            "from": m.from_version,
            "to": m.to_version,
            "reason": m.reason,
            "moved_at": m.moved_at.isoformat(),
        }
        for m in store.prompts.label_history(record.name)
    ]
    payload = {
        "name": record.name,
        "version": record.version,
        "labels": store.prompts.labels(record.name),
        "created_at": record.created_at.isoformat(),
        "author": record.author,
        "prompt": spec_of(record).model_dump(mode="json"),
        "diff": record.diff,
        "history": history,
    }
    moves = "\n".join(
        f"  {h['moved_at'][:19]}  {h['label']}: {h['from'] or '-'} -> {h['to']}  ({h['reason']})"
        for h in history
    )
    emit(
        payload,
        as_json,
        f"{record.name}@{record.version}  labels: {payload['labels']}\n\n{record.diff}\n"
        f"history:\n{moves}",
    )


@prompts.command("promote")
@promote_options
def prompts_promote(
    name: str, version: str, reason: str | None, force: bool, as_json: bool
) -> None:
    """Make VERSION (a version or a label such as `candidate`) the production version of NAME.

    Refused unless VERSION's promotion gate (`llmops eval`) passed against the current
    production version; `--force --reason TEXT` overrides, and the label history records it.
    """
    from llmops.evaluation.promotion import promotion_blocker
    from llmops.prompts.registry import PRODUCTION, promote, resolve

    if force and not (reason and reason.strip()):
        raise click.UsageError("--force needs --reason TEXT saying why the gate is overridden")
    store = synced_store()
    target = resolve(store, f"{name}@{version}").version
    before = store.prompts.label(name, PRODUCTION)
    blocker = promotion_blocker(store, name, target)
    if blocker and not force:
        raise PromotionRefusedError(
            f"promotion refused: {blocker}; override with --force --reason TEXT"
        )
    reason = reason or "promoted from the command line"
    if blocker:
        reason = f"forced past the gate ({blocker}): {reason}"
    promote(store, name, target, reason)
    payload = {
        "name": name,
        "production": target,
        "previous": before,
        "reason": reason,
        "forced": bool(blocker),
    }
    emit(payload, as_json, f"{name}: production {before} -> {target}")


@prompts.command("rollback")
@click.argument("name")
@click.option("--reason", default="rolled back from the command line", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def prompts_rollback(name: str, reason: str, as_json: bool) -> None:
    """Move NAME's production label back to the version it had before the current one."""
    from llmops.prompts.registry import PRODUCTION, rollback

    store = synced_store()
    before = store.prompts.label(name, PRODUCTION)
    after = rollback(store, name, reason)
    payload = {"name": name, "production": after, "previous": before, "reason": reason}
    emit(payload, as_json, f"{name}: production {before} -> {after} (rollback)")
