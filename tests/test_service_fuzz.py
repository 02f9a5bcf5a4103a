"""schemathesis against the generated OpenAPI schema: no input makes the service fail
with a server error."""

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from eligibility.service.app import create_app  # noqa: E402

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(reload_seconds=None))


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        ctype = response.headers.get("content-type")
        ctype = ctype[0] if isinstance(ctype, list) else ctype
        assert ctype.startswith("application/problem+json"), response.text
