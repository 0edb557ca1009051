"""Fuzz the HTTP service with schemathesis against its own (checked-in, and served: see
test_service.py) OpenAPI schema, on real uvicorn: whatever a client sends, valid or not, the
answer is never a 5xx."""

import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from llmops.entrypoints.service import OPENAPI_PATH, create_app
from tests.test_service import clients, llm_server, root  # noqa: F401 — the indexed fixtures

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_path(OPENAPI_PATH)


@pytest.fixture(scope="module")
def base_url(clients):  # noqa: F811
    """The service on uvicorn on a free loopback port, models loaded."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(clients), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case, base_url):
    case.call_and_validate(base_url=base_url, checks=[not_a_server_error])
