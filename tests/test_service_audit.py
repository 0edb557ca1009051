"""The HTTP audit re-runs what was served: `GET /v1/queries/{id}?rerun=true` goes through the
same audit function as `llmops audit --rerun`, with the logged context configuration, so a
query served under `hybrid` comes back with the same chunks after a re-index."""

import json
import shutil
from pathlib import Path

import httpx
import pytest

from llmops.config import PROJECT_ROOT
from llmops.entrypoints.access import mint
from llmops.entrypoints.cli import main
from llmops.entrypoints.service import Clients, create_app
from llmops.retrieval.contexts import load_context_files
from llmops.storage.metadata.client import MetadataClient
from tests.support.files import write_docs
from tests.support.http_servers import InThread
from tests.support.llm_server import ScriptedLLMServer, ok

pytestmark = pytest.mark.slow

QUESTION = "How many days of annual leave do I get?"
DOCS = {
    "leave.md": "# Leave\n\n## Annual leave\n\nEveryone gets 27 days of annual leave a year.\n",
    "vacation.md": "# Vacation\n\nStaff receive twenty-seven paid vacation days per calendar "
    "year; bank holidays come on top.\n",
    "parental.md": "# Parental leave\n\nParents get 26 weeks of parental leave at full pay.\n",
    "sick.md": "# Sick leave\n\nSelf-certify for up to 7 days; after that a fit note is needed.\n",
    "office.md": "# Office days\n\nHow many days do I get in the office? Teams choose three "
    "office days a week.\n",
    "review.md": "# Annual review\n\nEvery employee gets an annual review in March.\n",
    "expenses.md": "# Expenses\n\nReceipts are required for anything over £25.\n",
    "laptops.md": "# Lost laptops\n\nReport a lost laptop within one hour.\n",
}
# Re-indexed: new passages that the same question now finds.
MORE = {
    "leave-faq.md": "# Annual leave FAQ\n\nHow many days of annual leave do I get? 27 days of "
    "annual leave, plus bank holidays.\n",
    "holidays.md": "# Annual leave and holidays\n\nAnnual leave days: 27, and 8 bank holidays.\n",
}


def test_http_audit_rerun_with_hybrid_in_production_returns_the_same_chunks(
    tmp_path: Path, monkeypatch, capsys
):
    docs, home = tmp_path / "docs", tmp_path / "home"
    write_docs(docs, DOCS)
    contexts = tmp_path / "contexts"
    shutil.copytree(PROJECT_ROOT / "contexts", contexts)
    (contexts / "vector.yaml").write_text(
        "name: vector\ndescription: test\nretrieval:\n  mode: vector\n  k: 5\n"
    )
    for name, value in {
        "LLMOPS_HOME": home,
        "LLMOPS_DOCS_DIR": docs,
        "LLMOPS_CONTEXTS_DIR": contexts,
        "LLMOPS_PROMPTS_DIR": PROJECT_ROOT / "prompts",
    }.items():
        monkeypatch.setenv(name, str(value))
    for name in ("LLMOPS_JUDGE_MODEL", "LLMOPS_CHAT_MODEL", "LLMOPS_DATABASE_URL", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> dict:
        """`llmops ARGS --json` in this process."""
        code = main([*args, "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    refs = {f.spec.name: f.spec.ref for f in load_context_files(contexts)}

    def promote(name: str) -> None:
        version = refs[name].partition("@")[2]
        assert run("context", "promote", name, version, "--force", "--reason", "test")

    with ScriptedLLMServer(responder=lambda _: ok("27 days [leave.md]")) as chat:
        monkeypatch.setenv("OPENAI_BASE_URL", chat.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test")
        run("ingest")
        promote("hybrid")
        key, secret = mint("auditor", admin=True)
        MetadataClient(url=f"sqlite:///{home / 'llmops.db'}").api_keys.add(key)
        admin = {"Authorization": f"Bearer {secret}"}
        with InThread(create_app(Clients.from_env())) as url:
            asked = httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, headers=admin)
        assert asked.status_code == 200, asked.text
        served = asked.json()
        assert served["context"] == refs["hybrid"]
        served_chunks = [c["chunk_id"] for c in served["citations"]]
        assert served_chunks

        # Later: production moves on, the docs change and are re-indexed, the service restarts.
        promote("vector")
        write_docs(docs, MORE)
        assert run("ingest")["table_version"] > served["index_version"]
        with InThread(create_app(Clients.from_env())) as url:
            searched = httpx.post(f"{url}/v1/search", json={"query": QUESTION}, headers=admin)
            assert searched.json()["context"] == refs["vector"]
            now = [r["chunk_id"] for r in searched.json()["results"]]
            assert now != served_chunks  # retrieval today differs from what was served
            audited = httpx.get(
                f"{url}/v1/queries/{served['query_id']}",
                params={"rerun": "true"},
                headers=admin,
                timeout=120,
            )
        assert audited.status_code == 200, audited.text
        rerun = audited.json()["rerun"]
        assert rerun["chunk_ids"] == served_chunks
        assert rerun["same_chunks"] is True
        assert run("audit", served["query_id"], "--rerun")["rerun"] == rerun  # one function
