"""Who the service serves, on real uvicorn over HTTP: closed by default, every `/v1` route
refusing a caller without a key even while no key exists; `--insecure-open` serving anonymous
callers with a warning, never as admins."""

import logging

import httpx
import pytest

from llmops.entrypoints.access import mint
from llmops.entrypoints.service import INSECURE_OPEN_WARNING, ServiceOptions, create_app
from tests.support.http_servers import InThread

pytestmark = pytest.mark.slow

QUESTION = "How many days of annual leave do I get?"
BODIES = {
    "/v1/ask": {"question": QUESTION},
    "/v1/search": {"query": "annual leave"},
    "/v1/feedback": {"query_id": "0" * 32, "rating": "up"},
}
PUBLIC_VERDICT = {"stage", "check", "action", "triggered"}


def v1_routes(url: str) -> list[tuple[str, str]]:
    """(method, path) of every /v1 operation in the served schema, the query id filled in."""
    schema = httpx.get(f"{url}/openapi.json").json()
    return [
        (method.upper(), path.replace("{query_id}", "0" * 32))
        for path, operations in schema["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    ]


def test_a_fresh_service_without_keys_answers_401_on_every_v1_route(clients, caplog):
    assert not any(key.active for key in clients.store.api_keys.find())  # a fresh deploy
    logged = caplog.at_level(logging.INFO, logger="llmops.service")
    with logged, InThread(create_app(clients)) as url:
        routes = v1_routes(url)
        assert len(routes) == 5, routes  # ask, search, feedback, its export, the audit view
        for method, path in [*routes, ("GET", f"/v1/queries/{'0' * 32}?rerun=true")]:
            body = BODIES.get(path) if method == "POST" else None
            response = httpx.request(method, f"{url}{path}", json=body, timeout=30)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["WWW-Authenticate"] == "Bearer"
            assert "llmops keys create" in response.json()["detail"], response.text
        assert httpx.get(f"{url}/healthz").status_code == 200  # liveness stays open
        ready = httpx.get(f"{url}/readyz")
        assert ready.json() == {"status": "ready", "access": "api_key"}  # no detail
        assert httpx.get(f"{url}/metrics").status_code == 401
    said = [r.getMessage() for r in caplog.records if "llmops keys create" in r.getMessage()]
    assert len(said) == 1, said  # one line at start-up says how
    assert "\n" not in said[0]


def test_insecure_open_serves_anonymous_callers_with_a_warning_never_as_admins(
    clients,
    caplog,
):
    admin_key, admin_secret = mint("operator", admin=True)
    clients.store.api_keys.add(admin_key)
    admin = {"Authorization": f"Bearer {admin_secret}"}
    try:
        app = create_app(clients, ServiceOptions(insecure_open=True))
        logged = caplog.at_level(logging.WARNING, logger="llmops.service")
        with logged, InThread(app) as url:
            ready = httpx.get(f"{url}/readyz").json()
            assert ready == {
                "status": "ready",
                "access": "insecure_open",
                "warning": INSECURE_OPEN_WARNING,
            }
            asked = httpx.post(f"{url}/v1/ask", json=BODIES["/v1/ask"], timeout=60)
            assert asked.status_code == 200, asked.text
            served = asked.json()
            assert all(v.keys() == PUBLIC_VERDICT for v in served["guardrails"])
            query = f"{url}/v1/queries/{served['query_id']}"
            assert httpx.get(query).status_code == 200  # its own (anonymous) query
            rating = {"query_id": served["query_id"], "rating": "up"}
            assert httpx.post(f"{url}/v1/feedback", json=rating).status_code == 201
            search = httpx.post(f"{url}/v1/search", json=BODIES["/v1/search"])
            assert search.status_code == 200
            # never an admin: no export, no re-run, no metrics, no readiness detail
            assert httpx.get(f"{url}/v1/feedback").status_code == 403
            assert httpx.get(query, params={"rerun": "true"}).status_code == 403
            assert httpx.get(f"{url}/metrics").status_code == 403
            unknown = httpx.post(
                f"{url}/v1/search", json=BODIES["/v1/search"], headers={"X-API-Key": "x"}
            )
            assert unknown.status_code == 401  # a wrong key is still refused
            assert httpx.get(f"{url}/v1/feedback", headers=admin).status_code == 200
            assert "chat_model" in httpx.get(f"{url}/readyz", headers=admin).json()
    finally:
        clients.store.api_keys.revoke(admin_key.id)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert INSECURE_OPEN_WARNING in warnings
