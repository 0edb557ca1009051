"""Dagster's instance storage and the metadata store in one PostgreSQL database, the natural small
deployment (`DAGSTER_PG_URL` and `LLMOPS_DATABASE_URL` alike), starting from an llmops install
that kept its revision in Alembic's default table, the one Dagster's own migrations use.

`llmops ingest` runs as the process a user starts (the code location reads its settings once, at
import), `llmops ask` in this process; the sensor-launched run goes through the Dagster API in
this process (a sensor tick, then the run it requests), so no daemon is needed.
"""

import json
import shutil

import dagster as dg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from assets import prompts
from llmops.entrypoints.cli import main
from llmops.storage.metadata.client import MetadataClient
from llmops.storage.metadata.engine import VERSION_TABLE, alembic_config
from pipelines.jobs import register_prompts_job
from pipelines.sensors import new_prompt_version
from resources.metadata_store import MetadataStore
from tests.support.cli import llmops
from tests.support.files import PROJECT_ROOT, write_docs
from tests.support.llm_server import ScriptedLLMServer, ok
from tests.support.pg import fresh_database
from tests.support.store import legacy_install

pytestmark = pytest.mark.slow

DEPLOY_DAGSTER_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
LLMOPS_HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture
def shared_url(monkeypatch):
    """One fresh database for both, as the CLI processes and this one are told."""
    with fresh_database("shared") as url:
        monkeypatch.setenv("LLMOPS_DAGSTER_YAML", str(DEPLOY_DAGSTER_YAML))
        monkeypatch.setenv("DAGSTER_PG_URL", url)
        monkeypatch.setenv("LLMOPS_DATABASE_URL", url)
        yield url


def test_dagster_and_the_metadata_store_share_one_postgresql_database(
    tmp_path, monkeypatch, capsys, shared_url
):
    store = MetadataClient(url=shared_url)
    legacy_install(store)  # llmops's revision 0008 in alembic_version
    docs, home, prompts_dir = tmp_path / "docs", tmp_path / "home", tmp_path / "prompts"
    write_docs(docs, {"leave.md": "# Leave\n\nEveryone gets 27 days of annual leave a year.\n"})
    shutil.copytree(PROJECT_ROOT / "prompts", prompts_dir)
    monkeypatch.setenv("LLMOPS_PROMPTS_DIR", str(prompts_dir))

    ingested = llmops("ingest", "--json", home=home, docs=docs)
    assert ingested.returncode == 0, ingested.stderr
    run_id = json.loads(ingested.stdout)["run_id"]

    with ScriptedLLMServer(responder=lambda body: ok("27 days [leave.md]")) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("LLMOPS_HOME", str(home))
        assert main(["ask", "How many days of annual leave do I get?", "--json"]) == 0
    query_id = json.loads(capsys.readouterr().out)["query_id"]
    assert store.queries.get(query_id).answer == "27 days [leave.md]"

    (prompts_dir / "answer.yaml").write_text(
        (prompts_dir / "answer.yaml").read_text().replace("temperature: 0.0", "temperature: 0.1")
    )
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        tick = new_prompt_version(dg.build_sensor_context(instance=instance))
        [request] = tick.run_requests
        job = dg.Definitions(
            assets=dg.load_assets_from_modules([prompts]),
            jobs=[register_prompts_job],
            resources={"metadata_store": MetadataStore(url=store.url)},
        ).resolve_job_def("register_prompts")
        tags = {"dagster/sensor_name": new_prompt_version.name, "dagster/run_key": request.run_key}
        run = job.execute_in_process(instance=instance, tags={**request.tags, **tags})
        assert run.success
        (record,) = instance.get_run_records(dg.RunsFilter(tags=tags))  # stored in PostgreSQL
        assert record.dagster_run.job_name == "register_prompts"
        assert len(store.prompts.versions("answer")) == 2  # the sensor's run registered the edit
        for storage in (instance.run_storage, instance.event_log_storage):
            revision = storage.alembic_version()
            assert revision[0] == revision[1]  # Dagster's history: at its head
        instance.upgrade()  # `dagster instance migrate` still finds its own history

    with store.engine.connect() as connection:
        assert connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all() == [
            (LLMOPS_HEAD,)
        ]
        [(dagster_revision,)] = connection.execute(text("SELECT version_num FROM alembic_version"))
    assert dagster_revision != LLMOPS_HEAD
    assert {"runs", "event_logs", "query_log", "usage_ledger"} <= set(
        inspect(store.engine).get_table_names()
    )
    store.engine.dispose()
