"""The Dagster instance the CLI runs jobs on, opened so that a storage fault is one line.

Opening the instance connects to its storages (SQLite files under `$LLMOPS_HOME/dagster`, or
PostgreSQL at `DAGSTER_PG_URL` with `deploy/dagster.yaml`) and checks their migrations. When that
fails (the server is down, the database holds another tool's migration history), Dagster raises
whatever its driver raised, with a long traceback; the CLI says it in one line instead.

The metadata store is migrated first. On a PostgreSQL database shared by both (DAGSTER_PG_URL and
LLMOPS_DATABASE_URL alike), an llmops install from before `llmops_alembic_version` left its
revision in `alembic_version`, where Dagster would stop at a revision it cannot locate; the
migration moves it out before Dagster reads the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.config import Settings
from llmops.errors import LlmopsError
from llmops.storage.metadata.client import MetadataClient

if TYPE_CHECKING:
    from dagster import DagsterInstance


class InstanceStorageError(LlmopsError):
    """Dagster's instance storage (runs, event logs, schedules) cannot be opened."""


def dagster_instance(settings: Settings | None = None) -> DagsterInstance:
    """The instance of `$LLMOPS_HOME/dagster` (its `dagster.yaml` written first); a storage that
    cannot be opened raises InstanceStorageError naming the instance file and the reason (a
    metadata store that cannot be migrated, MetadataStoreError)."""
    from dagster import DagsterInstance

    settings = settings or Settings.from_env()
    MetadataClient(url=settings.database_url).migrate()
    home = settings.prepare_dagster_home()
    try:
        return DagsterInstance.get()
    except Exception as exc:
        reasons = [str(exc)]
        if exc.__cause__ is not None and str(exc.__cause__) not in reasons[0]:
            reasons.append(str(exc.__cause__))
        reason = " ".join(": ".join(reasons).split())
        raise InstanceStorageError(
            f"cannot open the Dagster instance storage of {home / 'dagster.yaml'} "
            f"(check DAGSTER_PG_URL if it names PostgreSQL): {type(exc).__name__}: {reason}"
        ) from exc
