"""The versioned registries of prompts and of context configurations: one implementation,
parameterised by kind.

A version (`NAME@VERSION`) never changes once stored. Labels (`production`, `candidate`) point
at versions and move with a reason, each move recorded in the kind's label history. A prompt's
labels belong to that prompt (`support-bot`'s `production`); a context label names one
`NAME@VERSION` among every context configuration.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from llmops.storage.metadata.engine import Sessions
from llmops.storage.metadata.records import (
    ContextLabelMove,
    ContextVersion,
    LabelMove,
    PromptVersion,
    PromptVersionNotFoundError,
    utcnow,
)
from llmops.storage.metadata.rows import (
    Base,
    ContextLabelHistoryRow,
    ContextLabelRow,
    ContextVersionRow,
    LabelHistoryRow,
    PromptLabelRow,
    PromptVersionRow,
    fields,
    to_record,
)

V = TypeVar("V", PromptVersion, ContextVersion)


class Registry(Generic[V]):
    """Versions of one kind and the labels that point at them; subclasses name the kind's
    tables and how its labels are scoped and recorded."""

    version_row: ClassVar[type[Any]]
    label_row: ClassVar[type[Any]]
    record: ClassVar[type[Any]]

    def __init__(self, sessions: Sessions) -> None:
        self._session = sessions

    def add(self, record: V) -> bool:
        """Store a new version; False if `name`+`version` exists (versions never change)."""
        try:
            with self._session() as session:
                if session.get(self.version_row, (record.name, record.version)) is not None:
                    return False
                session.add(self.version_row(**fields(record)))
        except IntegrityError:
            if self.get(record.name, record.version) is not None:
                return False  # stored concurrently by another writer
            raise
        return True

    def get(self, name: str, version: str) -> V | None:
        with self._session(write=False) as session:
            row = session.get(self.version_row, (name, version))
            return to_record(self.record, row) if row else None

    def versions(self, name: str | None = None) -> list[V]:
        """Every version (of `name`, if given), newest first."""
        rows = self.version_row
        query = select(rows).order_by(rows.created_at.desc(), rows.name, rows.version)
        if name is not None:
            query = query.where(rows.name == name)
        with self._session(write=False) as session:
            return [to_record(self.record, row) for row in session.scalars(query)]

    def latest(self, name: str) -> V | None:
        versions = self.versions(name)
        return versions[0] if versions else None

    def move_label(self, name: str, label: str, version: str, reason: str) -> None:
        """Point `label` at `name`'s version `version` and record the move in the label
        history, atomically.

        Moving a label to the version it already points at changes and records nothing.
        """
        if not label:
            raise ValueError("a label must not be empty")
        with self._session() as session:
            if session.get(self.version_row, (name, version)) is None:
                raise self._missing(name, label, version)
            current = session.scalars(
                select(self.label_row).where(*self._label_of(name, label)).with_for_update()
            ).one_or_none()
            previous = self._target(current.name, current.version) if current else None
            if previous == self._target(name, version):
                return
            if current:
                current.name, current.version = name, version
            else:
                session.add(self.label_row(name=name, label=label, version=version))
            session.add(self._move(name, label, previous, version, reason))

    def _label_of(self, name: str, label: str) -> tuple[Any, ...]:
        """The where-clause of label `label` of `name`."""
        raise NotImplementedError

    def _target(self, name: str, version: str) -> str:
        """What a label pointing at `name@version` records it points at."""
        raise NotImplementedError

    def _missing(self, name: str, label: str, version: str) -> LookupError:
        raise NotImplementedError

    def _move(self, name: str, label: str, previous: str | None, version: str, reason: str) -> Base:
        """The label history row of a move from `previous` to `name@version`."""
        raise NotImplementedError


class PromptRegistry(Registry[PromptVersion]):
    """Prompt versions; each prompt has labels of its own, pointing at one of its versions."""

    version_row = PromptVersionRow
    label_row = PromptLabelRow
    record = PromptVersion

    def label(self, name: str, label: str) -> str | None:
        """The version `label` (e.g. `production`) of prompt `name` points at, if any."""
        with self._session(write=False) as session:
            row = session.get(PromptLabelRow, (name, label))
            return row.version if row else None

    def labels(self, name: str) -> dict[str, str]:
        """Each label of prompt `name` and the version it points at."""
        query = select(PromptLabelRow).where(PromptLabelRow.name == name)
        with self._session(write=False) as session:
            return {row.label: row.version for row in session.scalars(query)}

    def label_history(self, name: str) -> list[LabelMove]:
        """Every label move of prompt `name`, oldest first."""
        query = select(LabelHistoryRow).where(LabelHistoryRow.name == name)
        with self._session(write=False) as session:
            rows = session.scalars(query.order_by(LabelHistoryRow.id))
            return [to_record(LabelMove, row) for row in rows]

    def _label_of(self, name: str, label: str) -> tuple[Any, ...]:
        return (PromptLabelRow.name == name, PromptLabelRow.label == label)

    def _target(self, name: str, version: str) -> str:
        return version

    def _missing(self, name: str, label: str, version: str) -> LookupError:
        return PromptVersionNotFoundError(
            f"prompt {name!r} has no version {version!r}; cannot move {label!r} to it"
        )

    def _move(self, name: str, label: str, previous: str | None, version: str, reason: str) -> Base:
        return LabelHistoryRow(
            name=name,
            label=label,
            from_version=previous,
            to_version=version,
            moved_at=utcnow(),
            reason=reason,
        )


class ContextRegistry(Registry[ContextVersion]):
    """Context configuration versions; a context label points at one `NAME@VERSION` of any."""

    version_row = ContextVersionRow
    label_row = ContextLabelRow
    record = ContextVersion

    def labels(self) -> dict[str, str]:
        """Each context label and the `NAME@VERSION` it points at."""
        with self._session(write=False) as session:
            rows = session.scalars(select(ContextLabelRow))
            return {row.label: self._target(row.name, row.version) for row in rows}

    def label_history(self) -> list[ContextLabelMove]:
        """Every context label move, oldest first."""
        query = select(ContextLabelHistoryRow).order_by(ContextLabelHistoryRow.id)
        with self._session(write=False) as session:
            return [to_record(ContextLabelMove, row) for row in session.scalars(query)]

    def _label_of(self, name: str, label: str) -> tuple[Any, ...]:
        return (ContextLabelRow.label == label,)

    def _target(self, name: str, version: str) -> str:
        return f"{name}@{version}"

    def _missing(self, name: str, label: str, version: str) -> LookupError:
        return LookupError(f"context {name!r} has no version {version!r}")

    def _move(self, name: str, label: str, previous: str | None, version: str, reason: str) -> Base:
        return ContextLabelHistoryRow(
            label=label,
            from_ref=previous,
            to_ref=self._target(name, version),
            moved_at=utcnow(),
            reason=reason,
        )
