"""What model calls cost and may cost: the usage ledger, the spend held for calls in flight
(checked against the day's budgets under a lock), and the request windows of per-key rate
limits. Every process sharing the database sees the same ledger, holds and windows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from llmops.storage.metadata.engine import Sessions, lock
from llmops.storage.metadata.records import (
    DaySpend,
    SpendReservation,
    UsageRecord,
    as_utc,
    attributed,
    utcnow,
)
from llmops.storage.metadata.rows import (
    ApiKeyRow,
    RateLimitHitRow,
    SpendReservationRow,
    UsageRow,
    insert,
    to_record,
)


class UsageLedger:
    """Model calls and spend holds; those without an API key are attributed to `api_key_id`,
    whose own budget `reserve` checks."""

    def __init__(self, sessions: Sessions, api_key_id: str | None = None) -> None:
        self._session = sessions
        self._api_key_id = api_key_id

    def record(self, record: UsageRecord) -> UsageRecord:
        """Append one model call to the ledger; returns it with its ledger id."""
        with self._session() as session:
            return insert(session, UsageRow, attributed(record, self._api_key_id))

    def find(self, since: datetime | None = None) -> list[UsageRecord]:
        """Ledger entries (created at or after `since`, if given), oldest first."""
        query = select(UsageRow).order_by(UsageRow.created_at, UsageRow.id)
        if since is not None:
            query = query.where(UsageRow.created_at >= as_utc(since, "since"))
        with self._session(write=False) as session:
            return [to_record(UsageRecord, row) for row in session.scalars(query)]

    def spent_on(self, day: date, api_key_id: str | None = None) -> float:
        """USD charged (refused calls excluded) on the UTC calendar day `day`, by every caller
        or, given `api_key_id`, through that API key only."""
        start = datetime.combine(day, time(), UTC)
        query = select(func.coalesce(func.sum(UsageRow.cost_usd), 0.0)).where(
            UsageRow.status == "charged",
            UsageRow.created_at >= start,
            UsageRow.created_at < start + timedelta(days=1),
        )
        if api_key_id is not None:
            query = query.where(UsageRow.api_key_id == api_key_id)
        with self._session(write=False) as session:
            return float(session.scalar(query))

    def reserve(
        self,
        model: str,
        purpose: str,
        amount_usd: float,
        check: Callable[[DaySpend], None],
        ttl: timedelta,
        shared_budget: bool,
        now: datetime | None = None,
    ) -> SpendReservation:
        """Hold `amount_usd` for a call of `model` if `check` lets today's spend take it.

        In one transaction under the day's locks: today's charged USD plus live reservations,
        of everybody and of this ledger's API key (with that key's budget as stored now), go to
        `check`, which raises to refuse (nothing is held then); otherwise the reservation is
        stored, live for `ttl`. `shared_budget` says a budget over every caller applies, so the
        reservation also takes the lock that every other one of the day takes. `now` is for
        tests.
        """
        if amount_usd < 0:
            raise ValueError(f"a reservation must be ≥ 0 USD, got {amount_usd}")
        now = utcnow() if now is None else as_utc(now, "now")
        with self._session() as session:
            if shared_budget:
                lock(session, "spend", "*", now.date())
            if self._api_key_id is not None:
                lock(session, "spend", self._api_key_id, now.date())
            check(self._day_spend(session, now))
            row = SpendReservationRow(
                created_at=now,
                expires_at=now + ttl,
                api_key_id=self._api_key_id,
                model=model,
                purpose=purpose,
                amount_usd=amount_usd,
            )
            session.add(row)
            session.flush()
            expired = (
                select(SpendReservationRow.id)
                .where(SpendReservationRow.expires_at <= now)
                .with_for_update(skip_locked=True)
            )
            session.execute(delete(SpendReservationRow).where(SpendReservationRow.id.in_(expired)))
            return to_record(SpendReservation, row)

    def _day_spend(self, session: Session, now: datetime) -> DaySpend:
        """Today's committed spend, read in one statement (so one snapshot on PostgreSQL: a
        reservation settled meanwhile is counted once, as a reservation or as a charge)."""
        start = datetime.combine(now.date(), time(), UTC)
        end = start + timedelta(days=1)
        key = self._api_key_id

        def charged(*where) -> Any:
            return (
                select(func.coalesce(func.sum(UsageRow.cost_usd), 0.0))
                .where(
                    UsageRow.status == "charged",
                    UsageRow.created_at >= start,
                    UsageRow.created_at < end,
                    *where,
                )
                .scalar_subquery()
            )

        def held(*where) -> Any:
            return (
                select(func.coalesce(func.sum(SpendReservationRow.amount_usd), 0.0))
                .where(
                    SpendReservationRow.created_at >= start,
                    SpendReservationRow.created_at < end,
                    SpendReservationRow.expires_at > now,
                    *where,
                )
                .scalar_subquery()
            )

        budget = select(ApiKeyRow.daily_budget_usd).where(ApiKeyRow.id == key).scalar_subquery()
        total, by_key, key_budget = session.execute(
            select(
                charged() + held(),
                charged(UsageRow.api_key_id == key) + held(SpendReservationRow.api_key_id == key),
                budget,
            )
        ).one()
        return DaySpend(
            day=now.date(),
            total_usd=float(total),
            key_usd=float(by_key) if key is not None else 0.0,
            api_key_id=key,
            key_budget_usd=key_budget if key is not None else None,
        )

    def settle(self, reservation: SpendReservation, record: UsageRecord) -> UsageRecord:
        """Replace `reservation` by the call's ledger entry `record`, atomically."""
        record = attributed(record, reservation.api_key_id)
        with self._session() as session:
            session.execute(
                delete(SpendReservationRow).where(SpendReservationRow.id == reservation.id)
            )
            return insert(session, UsageRow, record)

    def release(self, reservation: SpendReservation) -> None:
        """Drop `reservation` without a charge: its call failed before the model answered."""
        with self._session() as session:
            session.execute(
                delete(SpendReservationRow).where(SpendReservationRow.id == reservation.id)
            )

    def reservations(self) -> list[SpendReservation]:
        """Reservations still stored (live or expired but not yet swept), oldest first."""
        query = select(SpendReservationRow).order_by(SpendReservationRow.id)
        with self._session(write=False) as session:
            return [to_record(SpendReservation, row) for row in session.scalars(query)]


class RateLimits:
    """Sliding request windows per API key, shared by every process on the database."""

    def __init__(self, sessions: Sessions) -> None:
        self._session = sessions

    def take_slot(
        self,
        api_key_id: str,
        per_window: int,
        window: timedelta = timedelta(minutes=1),
        now: datetime | None = None,
    ) -> float | None:
        """Count a request of `api_key_id` if fewer than `per_window` fell in the sliding
        `window` before it: None then, else the seconds until the oldest leaves the window
        (a refused request is not counted). Every process sharing the store sees one window.
        `now` is for tests.
        """
        if per_window < 1:
            raise ValueError(f"per_window must be positive, got {per_window}")
        now = utcnow() if now is None else as_utc(now, "now")
        hits = RateLimitHitRow
        with self._session() as session:
            if session.get_bind().dialect.name == "postgresql":
                # A hit lost to a server crash only frees one request: no need to wait for disk.
                session.execute(text("SET LOCAL synchronous_commit TO OFF"))
            lock(session, "rate", api_key_id)
            session.execute(
                delete(hits).where(hits.api_key_id == api_key_id, hits.at <= now - window)
            )
            count, oldest = session.execute(
                select(func.count(), func.min(hits.at)).where(hits.api_key_id == api_key_id)
            ).one()
            if count >= per_window:
                return max(0.0, (oldest + window - now).total_seconds())
            session.add(hits(api_key_id=api_key_id, at=now))
            return None
