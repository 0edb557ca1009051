"""What the HTTP service test modules share: the docs they index, the scripted chat reply, and
a readiness wait on an in-process client."""

import time

from fastapi.testclient import TestClient

from tests.support.llm_server import Reply, ok

DOCS = {
    "leave.md": "# Leave\n\n## Annual leave\n\nEveryone gets 27 days of annual leave.\n",
    "expenses.md": "# Expenses\n\nReceipts are required for anything over £25.\n",
    "security.md": "# Security\n\nReport a lost laptop within one hour.\n",
}


def reply(body: dict) -> Reply:
    """The chat model of the service tests: one cited answer, 3 s late when asked "slowly"."""
    question = body["messages"][-1]["content"]
    return ok("27 days [leave.md]", delay_s=3.0 if "slowly" in question else 0.0)


def wait_ready(client: TestClient, timeout_s: float = 120) -> None:
    """Poll /readyz while the models load in the background (503 meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while (response := client.get("/readyz")).status_code == 503:
        assert "starting" in response.json()["detail"], response.text
        assert time.monotonic() < deadline, "the models did not load"
        time.sleep(0.1)
