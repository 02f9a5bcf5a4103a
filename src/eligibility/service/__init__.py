"""The HTTP service: the FastAPI app with its API and the caseworker page."""

from eligibility.service.app import create_app

__all__ = ["create_app"]
