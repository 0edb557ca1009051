"""Guardrail events: every verdict of the input, output and ingest guardrails.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guardrail_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("query_id", sa.String(36), nullable=True),
        sa.Column("chunk_id", sa.String(64), nullable=True),
        sa.Column("check", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("triggered", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_guardrail_events"),
    )
    op.create_index("ix_guardrail_events_created_at", "guardrail_events", ["created_at"])
    op.create_index("ix_guardrail_events_query_id", "guardrail_events", ["query_id"])


def downgrade() -> None:
    op.drop_table("guardrail_events")
