"""The Litestar HTTP layer: the write side, the log, problem details and OpenAPI."""

from service.http.app import create_app

__all__ = ["create_app"]
