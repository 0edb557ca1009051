"""Opening the metadata database: URLs, engines, sessions, migrations and advisory locks.

SQLite under `LLMOPS_HOME` by default, PostgreSQL the same way; the schema is owned by the Alembic
migrations in `migrations/`, applied automatically once per process before first use. Their
revision lives in `llmops_alembic_version`, not in Alembic's default `alembic_version`, so the
store can share one PostgreSQL database with Dagster's instance storage (whose own migrations use
the default table).

Checks that must hold across processes (a budget, a rate limit) read and write in one
transaction that holds a lock: on PostgreSQL a transaction-scoped advisory lock per API key (and
per day, for spend), on SQLite the database write lock (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import (
    Connection,
    Engine,
    column,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from llmops.extras import needs_extra
from llmops.storage.metadata.records import MetadataStoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant shared by every llmops process: concurrent first starts on one PostgreSQL
# database take turns migrating instead of racing to create the same tables.
_MIGRATION_LOCK = 7_306_641_203
# llmops's Alembic revision table; Dagster's instance storage keeps its own in `alembic_version`.
VERSION_TABLE = "llmops_alembic_version"
LEGACY_VERSION_TABLE = "alembic_version"
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Sessions(Protocol):
    """What every repository holds: `sessions()` opens one transaction (see Database.session)."""

    def __call__(self, write: bool = True) -> AbstractContextManager[Session]: ...


def alembic_config() -> Config:
    """Alembic configuration of the metadata store's migrations, without an `alembic.ini`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _safe_url(url: str) -> str:
    """`url` without its password, or a placeholder if it does not even parse."""
    try:
        return _safe(make_url(url))
    except SQLAlchemyError:
        return "(an unparsable LLMOPS_DATABASE_URL)"


def _reason(exc: Exception) -> str:
    """The driver's own message on one line (not SQLAlchemy's statement and parameters)."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())


def _with_driver(url: URL) -> URL:
    """`postgresql://` means psycopg 3 to SQLAlchemy 2.1; the pinned driver is psycopg2."""
    if url.drivername == "postgresql" and importlib.util.find_spec("psycopg") is None:
        return url.set(drivername="postgresql+psycopg2")
    return url


@cache
def _engine(url: str, schema: str | None) -> Engine:
    parsed = _with_driver(make_url(url))
    if parsed.get_backend_name() == "sqlite":
        if schema:
            raise MetadataStoreError("db_schema applies to PostgreSQL only, not to SQLite")
        return _sqlite_engine(parsed)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = 10
        if schema:
            if not _SCHEMA_NAME.match(schema):
                raise MetadataStoreError(f"db_schema {schema!r} is not a plain SQL identifier")
            connect_args["options"] = f"-csearch_path={schema}"
    elif schema:
        raise MetadataStoreError(f"db_schema applies to PostgreSQL only, not to {_safe(parsed)}")
    with needs_extra("postgres"):  # the PostgreSQL driver, psycopg2
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: URL) -> Engine:
    """SQLite in WAL mode with foreign keys on, and real transactions.

    The driver's own transaction handling does not BEGIN before reads or DDL; SQLAlchemy emits
    BEGIN instead (IMMEDIATE for writes, so concurrent writers queue up instead of failing on a
    stale read snapshot).
    """
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _connection_record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        immediate = connection.get_execution_options().get("llmops_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@cache
def _sessions(url: str, schema: str | None, write: bool) -> sessionmaker[Session]:
    engine = _engine(url, schema)
    bind = engine.execution_options(llmops_write=True) if write else engine
    return sessionmaker(bind, expire_on_commit=False)


def _schema_exists(connection: Connection, schema: str) -> bool:
    """Asked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when it exists."""
    query = text("SELECT 1 FROM pg_namespace WHERE nspname = :schema")
    return connection.execute(query, {"schema": schema}).first() is not None


def _adopt_legacy_revision(connection: Connection, config: Config) -> None:
    """Move llmops's revision from `alembic_version` to `llmops_alembic_version`.

    Installs before the move kept it in Alembic's default table, which Dagster's instance
    storage also uses: on one shared database each side then found the other's revision and
    stopped. Only a revision of llmops's own history is moved; the old table is dropped if that
    leaves it empty, and kept (with Dagster's revision, say) otherwise.
    """
    tables = set(inspect(connection).get_table_names())
    if VERSION_TABLE in tables or LEGACY_VERSION_TABLE not in tables:
        return
    script = ScriptDirectory.from_config(config)
    ours = {revision.revision for revision in script.walk_revisions()}
    legacy = table(LEGACY_VERSION_TABLE, column("version_num"))
    found = [v for v in connection.scalars(select(legacy.c.version_num)) if v in ours]
    if not found:
        return
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    context.stamp(script, found[0])
    connection.execute(delete(legacy).where(legacy.c.version_num.in_(found)))
    if not connection.scalar(select(func.count()).select_from(legacy)):
        connection.execute(text(f"DROP TABLE {LEGACY_VERSION_TABLE}"))


def _lock_id(*parts: object) -> int:
    """A signed 64-bit PostgreSQL advisory lock id for `parts` (a key, a day)."""
    digest = hashlib.blake2b(":".join(map(str, ("llmops", *parts))).encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def lock(session: Session, *parts: object) -> None:
    """Hold `parts`' advisory lock until the transaction ends (PostgreSQL; on SQLite the write
    transaction already holds the database lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_lock_id(*parts))))


_migrated: set[tuple[str, str | None]] = set()
_migrate_lock = threading.Lock()


class Database:
    """The metadata database at `url`, migrated before its first session in this process.

    `url` is a SQLAlchemy URL (`sqlite:///…/llmops.db`, `postgresql://…`); `schema` puts the
    tables into that PostgreSQL schema (created if missing) instead of the default one. Engines
    are shared by every Database of the same `url` and `schema` in the process.
    """

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = url
        self.schema = schema

    @property
    def engine(self) -> Engine:
        return _engine(self.url, self.schema)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (`alembic upgrade head`); a no-op if there.

        The revision of an install older than this table layout is first moved from
        `alembic_version` to `llmops_alembic_version`. Whatever fails is one MetadataStoreError
        line naming the database (without its password), never a driver traceback.
        """
        where = _safe_url(self.url)
        try:
            connection = self.engine.execution_options(llmops_write=True).connect()
        except OperationalError as exc:
            raise MetadataStoreError(
                f"cannot reach the metadata database {where}: {_reason(exc)}"
            ) from exc
        except SQLAlchemyError as exc:
            raise MetadataStoreError(
                f"cannot open the metadata database {where}: {_reason(exc)}"
            ) from exc
        config = alembic_config()
        try:
            with connection, connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(select(func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
                    if self.schema and not _schema_exists(connection, self.schema):
                        connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
                _adopt_legacy_revision(connection, config)
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except (CommandError, SQLAlchemyError) as exc:
            raise MetadataStoreError(
                f"cannot migrate the metadata database {where}: {_reason(exc)}"
            ) from exc
        _migrated.add((self.url, self.schema))

    def _ensure_migrated(self) -> None:
        if (self.url, self.schema) in _migrated:
            return
        with _migrate_lock:
            if (self.url, self.schema) not in _migrated:
                self.migrate()

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back on error.

        Pass `write=False` for reads: on SQLite they then do not queue for the write lock. A lost
        or refused connection raises `MetadataStoreError` (nothing of the transaction is kept).
        """
        self._ensure_migrated()
        try:
            with _sessions(self.url, self.schema, write).begin() as session:
                yield session
        except OperationalError as exc:
            raise MetadataStoreError(
                f"the metadata database {_safe_url(self.url)} is unavailable: {_reason(exc)}"
            ) from exc
