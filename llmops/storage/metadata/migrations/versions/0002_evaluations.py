"""Evaluations: one row per scored prompt version, with its gate verdict against production.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prompt_name", sa.String(128), nullable=False),
        sa.Column("prompt_version", sa.String(64), nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("evalset", sa.Text(), nullable=False),
        sa.Column("evalset_digest", sa.String(64), nullable=False),
        sa.Column("table_version", sa.Integer(), nullable=False),
        sa.Column("chat_model", sa.String(256), nullable=False),
        sa.Column("judge", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("gate_passed", sa.Boolean(), nullable=True),
        sa.Column("gate_baseline", sa.String(64), nullable=True),
        sa.Column("gate_details", sa.JSON(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("scores_path", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
    )
    op.create_index(
        "ix_evaluations_prompt", "evaluations", ["prompt_name", "prompt_version", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("evaluations")
