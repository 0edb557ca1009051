"""Fuzz the HTTP service with schemathesis against its own (checked-in, and served: see
test_service.py) OpenAPI schema, on real uvicorn: whatever a client sends, valid or not, the
answer is never a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from llmops.entrypoints.service import OPENAPI_PATH, create_app
from tests.http_servers import InThread
from tests.test_service import clients, llm_server, root  # noqa: F401 — the indexed fixtures

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_path(OPENAPI_PATH)


@pytest.fixture(scope="module")
def base_url(clients):  # noqa: F811
    """The service on uvicorn on a free loopback port, models loaded."""
    with InThread(create_app(clients)) as url:
        yield url


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error(case, base_url):
    case.call_and_validate(base_url=base_url, checks=[not_a_server_error])
