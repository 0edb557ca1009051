"""A store that cannot be opened at start-up, the metadata store or Dagster's instance storage,
is one line on stderr and exit status 2, never a traceback, and never shows a password.

The CLI runs in this process (`main`), as the `llmops` script runs it.
"""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from llmops.storage.metadata.client import MetadataClient
from tests.support.cli import refused
from tests.support.files import PROJECT_ROOT
from tests.support.pg import fresh_database
from tests.support.store import at_unknown_revision

pytestmark = pytest.mark.usefixtures("home")  # LLMOPS_HOME and the folders: temporary


def _with_password(url: str) -> str:
    return make_url(url).set(password="hunter2").render_as_string(hide_password=False)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_metadata_store_at_an_unknown_revision_is_one_line(
    tmp_path, monkeypatch, capsys, backend
):
    def check(url: str) -> None:
        store = MetadataClient(url=url)
        at_unknown_revision(store)
        store.engine.dispose()
        monkeypatch.setenv("LLMOPS_DATABASE_URL", url)
        line = refused(capsys, "prompts", "list")
        assert "cannot migrate the metadata database" in line
        assert "Can't locate revision identified by 'ffff'" in line

    if backend == "sqlite":
        check(f"sqlite:///{tmp_path / 'llmops.db'}")
        return
    with fresh_database("store_errors") as url:
        check(url)


def test_an_unparsable_database_url_is_one_line_without_the_url(monkeypatch, capsys):
    monkeypatch.setenv("LLMOPS_DATABASE_URL", "postgres-with:hunter2@db")
    line = refused(capsys, "prompts", "list")
    assert "cannot open the metadata database (an unparsable LLMOPS_DATABASE_URL)" in line
    assert "hunter2" not in line


def test_an_unreachable_database_is_one_line_without_the_password(monkeypatch, capsys):
    monkeypatch.setenv("LLMOPS_DATABASE_URL", "postgresql://llmops:hunter2@127.0.0.1:1/llmops")
    line = refused(capsys, "prompts", "list")
    assert "cannot reach the metadata database postgresql://llmops:***@127.0.0.1:1/llmops" in line
    assert "hunter2" not in line


def test_a_dagster_storage_that_cannot_be_opened_is_one_line(monkeypatch, capsys):
    """Another tool's Alembic revision in the database Dagster is told to use: Dagster cannot
    locate it and stops with alembic's traceback; the CLI says it in one line."""
    with fresh_database("dagster_errors") as url:
        with MetadataClient(url=url).engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            connection.execute(text("INSERT INTO alembic_version VALUES ('0badc0ffee00')"))
        monkeypatch.setenv("LLMOPS_DAGSTER_YAML", str(PROJECT_ROOT / "deploy" / "dagster.yaml"))
        monkeypatch.setenv("DAGSTER_PG_URL", _with_password(url))
        line = refused(capsys, "ingest")
    assert "cannot open the Dagster instance storage of " in line
    assert "Can't locate revision identified by '0badc0ffee00'" in line
    assert "hunter2" not in line
