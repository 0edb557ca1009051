"""Metadata databases in the states an older or a newer llmops leaves them."""

from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.engine import VERSION_TABLE, alembic_config


def legacy_install(store: MetadataClient, *foreign: str) -> None:
    """The layout before llmops had its own version table: its revision (0008, the last one
    of that time) in `alembic_version`, next to `foreign` revisions (Dagster's, say)."""
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
        legacy = MigrationContext.configure(connection)  # Alembic's default version table
        legacy.stamp(ScriptDirectory.from_config(config), "0008")
        for revision in foreign:
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision}
            )


def at_unknown_revision(store: MetadataClient) -> None:
    """Migrated to head, then marked at a revision this llmops does not know (as a newer llmops
    would leave it), without `store` or this process noting the migration."""
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff'"))
