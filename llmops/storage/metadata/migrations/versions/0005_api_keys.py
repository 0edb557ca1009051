"""API keys of the HTTP service, and which key asked each query and paid for each call.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("daily_budget_usd", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("hash", name="uq_api_keys_hash"),
    )
    for table in ("query_log", "usage_ledger"):
        op.add_column(table, sa.Column("api_key_id", sa.String(32), nullable=True))
        op.create_index(f"ix_{table}_api_key_id", table, ["api_key_id"])


def downgrade() -> None:
    for table in ("query_log", "usage_ledger"):
        op.drop_index(f"ix_{table}_api_key_id", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("api_key_id")
    op.drop_table("api_keys")
