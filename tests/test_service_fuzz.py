"""Fuzz the HTTP service with schemathesis against its own (checked-in, and served: see
test_service.py) OpenAPI schema, on real uvicorn: whatever a client sends, valid or not, the
answer is never a 5xx. Once with a real admin key, so the authenticated paths (answers, the
audit view, re-runs, the feedback export) are fuzzed; once without a key, which no /v1 route
may serve."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from llmops.entrypoints.access import mint
from llmops.entrypoints.service import OPENAPI_PATH, create_app
from tests.support.http_servers import InThread

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_path(OPENAPI_PATH)


@pytest.fixture(scope="module")
def service(clients):
    """The service on uvicorn on a free loopback port, models loaded, and an admin key."""
    key, secret = mint("fuzzer", admin=True, rate_limit_per_minute=1_000_000)
    clients.store.api_keys.add(key)
    with InThread(create_app(clients)) as url:
        yield url, {"Authorization": f"Bearer {secret}"}


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error_with_a_key(case, service):
    url, admin = service
    response = case.call_and_validate(base_url=url, headers=admin, checks=[not_a_server_error])
    assert response.status_code not in (401, 403), response.text  # the key goes through


@schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_server_error_or_an_answer_without_a_key(case, service):
    url, _admin = service
    response = case.call_and_validate(base_url=url, checks=[not_a_server_error])
    if case.path.startswith("/v1/"):
        assert response.status_code >= 400, (case.method, case.path, response.status_code)
