"""Context configurations: their versions, the labels that pick one for the assistant, and
which configuration served each query.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "context_versions",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("author", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name="pk_context_versions"),
    )
    op.create_table(
        "context_labels",
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("label", name="pk_context_labels"),
        sa.ForeignKeyConstraint(
            ["name", "version"],
            ["context_versions.name", "context_versions.version"],
            name="fk_context_labels_context_versions",
        ),
    )
    op.create_table(
        "context_label_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("from_ref", sa.String(200), nullable=True),
        sa.Column("to_ref", sa.String(200), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_context_label_history"),
    )
    with op.batch_alter_table("query_log") as batch:
        batch.add_column(sa.Column("context", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("query_log") as batch:
        batch.drop_column("context")
    op.drop_table("context_label_history")
    op.drop_table("context_labels")
    op.drop_table("context_versions")
