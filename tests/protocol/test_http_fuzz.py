"""The HTTP routes fuzzed from the app's own OpenAPI spec with schemathesis: never a 500.

The spec names only the JSON routes, so the page and the static files (which FastAPI leaves
out of it) are added here with free-form paths and query strings: traversal attempts, odd
unicode and encodings must all get a 4xx, never a crash.
"""

from __future__ import annotations

import copy
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from app.main import create_app
from tests.support.live_server import LiveServer

ANY_TEXT_QUERY = {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}}
EXTRA_PATHS: dict[str, Any] = {
    "/": {"get": {"parameters": [ANY_TEXT_QUERY], "responses": {"200": {"description": "page"}}}},
    "/static/{path}": {
        "get": {
            "parameters": [
                {"name": "path", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "a file"}, "404": {"description": "none"}},
        }
    },
}


def app_spec() -> dict[str, Any]:
    spec = copy.deepcopy(create_app().openapi())
    spec["paths"].update(EXTRA_PATHS)
    return spec


schema = schemathesis.openapi.from_dict(app_spec())


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_no_http_route_answers_with_a_server_error(case, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate(base_url=live_server.url, checks=[not_a_server_error])
