"""The Litestar HTTP layer: the write side, the log, problem details and OpenAPI."""

from service.http.app import app_from_environment, create_app

__all__ = ["app_from_environment", "create_app"]
