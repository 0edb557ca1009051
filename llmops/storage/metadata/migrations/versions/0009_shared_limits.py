"""Spend held for LLM calls in flight, and the request windows of the per-key rate limits: the
state every replica of the HTTP service shares, so budgets and rate limits hold across them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "spend_reservations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("amount_usd", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_spend_reservations"),
        sqlite_autoincrement=True,  # a settled id is never handed to another reservation
    )
    for name in ("created_at", "expires_at", "api_key_id"):
        op.create_index(f"ix_spend_reservations_{name}", "spend_reservations", [name])
    op.create_table(
        "rate_limit_hits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("api_key_id", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rate_limit_hits"),
    )
    op.create_index("ix_rate_limit_hits_key_at", "rate_limit_hits", ["api_key_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_hits_key_at", "rate_limit_hits")
    op.drop_table("rate_limit_hits")
    for name in ("created_at", "expires_at", "api_key_id"):
        op.drop_index(f"ix_spend_reservations_{name}", "spend_reservations")
    op.drop_table("spend_reservations")
