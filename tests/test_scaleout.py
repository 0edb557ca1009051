"""The scale-out path: `deploy/` files parse and carry their key fields; on real engines,
Dagster instance storage on PostgreSQL (`deploy/dagster.yaml`) and LanceDB on S3 (moto's
server on loopback), driven by the CLI.

PostgreSQL comes from `LLMOPS_TEST_PG_URL` (default: the local server); each test creates its
own database and drops it. Without a server the test is skipped, except under `CI=true`.
"""

import json
import re
import shutil
import socket
from collections.abc import Iterator

import boto3
import dagster as dg
import pytest
import yaml

from tests.support.cli import llmops
from tests.support.files import PROJECT_ROOT, write_docs
from tests.support.llm_server import ScriptedLLMServer, ok
from tests.support.pg import fresh_database, pg_connect

DEPLOY_DAGSTER_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
BUCKET = "llmops-test"
DOCS = {
    "leave.md": "# Leave\n\n## Annual leave\n\nEveryone gets 27 days of annual leave a year.\n",
    "it/laptops.md": "# Laptops\n\nReport a lost laptop to security within one hour.\n",
}


@pytest.fixture
def dagster_pg_url() -> Iterator[str]:
    """A fresh database `dagster_test_<hex>` on the test server, dropped afterwards."""
    with fresh_database("dagster_test") as url:
        yield url


@pytest.mark.slow
def test_reindex_on_postgres_instance_storage(tmp_path, monkeypatch, dagster_pg_url):
    docs, home = tmp_path / "docs", tmp_path / "home"
    write_docs(docs, DOCS)
    monkeypatch.setenv("LLMOPS_DAGSTER_YAML", str(DEPLOY_DAGSTER_YAML))
    monkeypatch.setenv("DAGSTER_PG_URL", dagster_pg_url)

    ingested = llmops("ingest", "--json", home=home, docs=docs)
    assert ingested.returncode == 0, ingested.stderr
    run_id = json.loads(ingested.stdout)["run_id"]
    assert not (home / "dagster" / "history").exists()  # no SQLite run storage

    instance_dir = tmp_path / "reader"
    instance_dir.mkdir()
    shutil.copy(DEPLOY_DAGSTER_YAML, instance_dir / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(instance_dir)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        (record,) = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))
        assert record.dagster_run.job_name == "reindex"
        assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
        materialized = instance.fetch_materializations(dg.AssetKey("chunk_embeddings"), limit=5)
        (event,) = materialized.records
        assert event.run_id == run_id
        assert event.asset_materialization.metadata["chunks"].value == 2.0

    with pg_connect(dagster_pg_url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pipeline_name, status FROM runs WHERE run_id = %s", (run_id,))
        assert cursor.fetchall() == [("reindex", "SUCCESS")]
        cursor.execute(
            "SELECT asset_key FROM event_logs WHERE run_id = %s "
            "AND dagster_event_type = 'ASSET_MATERIALIZATION' ORDER BY asset_key",
            (run_id,),
        )
        keys = [json.loads(k) for (k,) in cursor.fetchall()]
        assert keys == [
            ["benign_anchors"],
            ["chunk_embeddings"],
            ["document_chunks"],
            ["production_context_index"],
            ["source_documents"],
        ]
    connection.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3(monkeypatch) -> Iterator[boto3.client]:
    """moto's S3 server on loopback with an empty bucket; the AWS env points LanceDB at it."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "LLMOPS_LANCEDB_URI": f"s3://{BUCKET}/lancedb",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        server.stop()


@pytest.mark.slow
def test_lancedb_on_s3_ingest_search_ask_audit(tmp_path, monkeypatch, s3):
    docs, home = tmp_path / "docs", tmp_path / "home"
    write_docs(docs, DOCS)
    ingested = llmops("ingest", "--json", home=home, docs=docs)
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["embedded"] == 2

    found = llmops("search", "How much annual leave do I get?", "--json", home=home)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["source"] == "leave.md"

    with ScriptedLLMServer(responder=lambda body: ok("27 days [leave.md]")) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        asked = llmops("ask", "How many days of annual leave do I get?", "--json", home=home)
        assert asked.returncode == 0, asked.stderr
        answer = json.loads(asked.stdout)
        assert answer["citations"][0]["source"] == "leave.md"

        (docs / "leave.md").write_text("# Leave\n\nFrom 2027 everyone gets 30 days of leave.\n")
        reindexed = llmops("ingest", "--json", home=home, docs=docs)
        assert reindexed.returncode == 0, reindexed.stderr
        assert json.loads(reindexed.stdout)["table_version"] > answer["index_version"]

        audited = llmops("audit", answer["query_id"], "--rerun", "--json", home=home)
        assert audited.returncode == 0, audited.stderr
    report = json.loads(audited.stdout)
    assert report["lineage"]["index_version"] == answer["index_version"]
    assert report["rerun"]["chunk_ids"] == [c["chunk_id"] for c in answer["citations"]]
    assert report["rerun"]["same_chunks"] is True

    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="lancedb/")["Contents"]]
    manifests = [k for k in keys if k.startswith("lancedb/chunks_") and "/_versions/" in k]
    assert len(manifests) >= 2
    assert not (home / "lancedb").exists()


DEPLOY = PROJECT_ROOT / "deploy"


def test_deploy_dagster_yaml_is_postgres_with_the_root_pools():
    deploy = yaml.safe_load(DEPLOY_DAGSTER_YAML.read_text())
    root = yaml.safe_load((PROJECT_ROOT / "pipelines" / "dagster.yaml").read_text())
    assert deploy["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    assert deploy["concurrency"] == root["concurrency"]
    assert deploy["run_monitoring"]["enabled"] is True


def test_helm_values_run_the_code_location_with_k8s_runs_and_postgres():
    values = yaml.safe_load((DEPLOY / "helm-values.yaml").read_text())
    (location,) = values["dagster-user-deployments"]["deployments"]
    assert location["dagsterApiGrpcArgs"] == ["-m", "pipelines.definitions"]
    env = {e["name"]: e["value"] for e in location["env"]}
    assert env["LLMOPS_LANCEDB_URI"].startswith("s3://")
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["postgresqlDatabase"]
    assert values["concurrency"]["pools"]["defaultLimit"] == 1


def test_service_deployment_probes_and_command():
    deployment, service = yaml.safe_load_all((DEPLOY / "service-deployment.yaml").read_text())
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["llmops", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector


def test_dockerfile_installs_the_locked_torch_cpu_build_and_serves_the_code_location():
    lock = (PROJECT_ROOT / "requirements.lock").read_text()
    assert re.search(r"^torch==[\d.]+\+cpu ", lock, re.MULTILINE), (
        "the lock must pin torch's CPU build"
    )
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'ARG TORCH_WHEELS="https://download.pytorch.org/whl/cpu/' in dockerfile
    install = next(
        run for run in dockerfile.split("\nRUN ")[1:] if "--extra deploy" in run
    )  # the runtime dependencies, at the lock's versions, torch from the CPU wheels
    assert '--find-links "${TORCH_WHEELS}"' in install
    assert "-c requirements.lock" in install
    assert "pipelines.definitions" in dockerfile.splitlines()[-1]
