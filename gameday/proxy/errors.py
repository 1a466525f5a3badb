"""Errors of the fault proxy's HTTP API: Toxiproxy's messages and status codes, so its clients read them as usual.

Toxiproxy answers ``{"error": "<message>", "status": <code>}`` with the same code as the HTTP status; clients
print the message (``create: HTTP 409: proxy already exists``), so the messages are Toxiproxy's own.
"""

from __future__ import annotations


class ApiError(Exception):
    """An API error: its message and HTTP status, serialised as Toxiproxy does."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


def bad_request_body(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


def missing_field(field: str) -> ApiError:
    return ApiError(f"missing required field: {field}", 400)


def proxy_not_found() -> ApiError:
    return ApiError("proxy not found", 404)


def proxy_already_exists() -> ApiError:
    return ApiError("proxy already exists", 409)


def invalid_stream() -> ApiError:
    return ApiError("stream was invalid, can be either upstream or downstream", 400)


def invalid_toxic_type() -> ApiError:
    return ApiError("invalid toxic type", 400)


def toxic_already_exists() -> ApiError:
    return ApiError("toxic already exists", 409)


def toxic_not_found() -> ApiError:
    return ApiError("toxic not found", 404)


def listen_failed(listen: str, reason: str) -> ApiError:
    """The listener could not be opened; Toxiproxy reports the OS error with status 500."""
    return ApiError(f"listen tcp {listen}: {reason}", 500)
