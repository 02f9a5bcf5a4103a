"""A stable OpenAPI document across Python versions.

FastAPI describes a declared response by `http.HTTPStatus(code).phrase`, and Python 3.13
renamed phrases after RFC 9110 (413 "Content Too Large", 422 "Unprocessable Content"), so the
same service published a different document on 3.13 than on 3.11. `docs/openapi.json` is part
of the contract, so the descriptions are ours, fixed here."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# The phrases the service has published since its first release (RFC 7231 names).
DESCRIPTIONS = {
    "401": "Unauthorized",
    "403": "Forbidden",
    "404": "Not Found",
    "413": "Request Entity Too Large",
    "415": "Unsupported Media Type",
    "422": "Unprocessable Entity",
    "429": "Too Many Requests",
    "503": "Service Unavailable",
}


def _fixed(doc: dict[str, Any]) -> dict[str, Any]:
    from http import HTTPStatus

    for path in doc.get("paths", {}).values():
        for operation in path.values():
            for code, response in operation.get("responses", {}).items():
                if code in DESCRIPTIONS and response.get("description") == HTTPStatus(int(code)).phrase:
                    response["description"] = DESCRIPTIONS[code]
    return doc


def stable_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return descriptions that do not depend on the Python version."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _fixed(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
