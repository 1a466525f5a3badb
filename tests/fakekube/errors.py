"""API errors rendered as ``kind: Status`` objects, like the real API server does."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error that the HTTP layer turns into a ``metav1.Status`` response."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The ``Status`` object for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(name: str | None, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details.update(extra)
    return details


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """404 NotFound for a named object."""
    return ApiError(
        404, "NotFound", f'{_qualified(plural, group)} "{name}" not found', _details(name, group, plural)
    )


def not_found_path(path: str) -> ApiError:
    """404 NotFound for an unknown URL."""
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})", {})


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """409 AlreadyExists on create."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    """409 Conflict on a stale resourceVersion (optimistic concurrency)."""
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
        _details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; ``causes`` are ``(field, reason, message)`` triples."""
    qualified = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{field}: {msg}" for field, _reason, msg in causes)
    return ApiError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {summary}',
        _details(
            name,
            group,
            kind,
            causes=[{"reason": reason, "message": msg, "field": field} for field, reason, msg in causes],
        ),
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, supported: list[str]) -> ApiError:
    """415 UnsupportedMediaType, listing what this fake accepts."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(supported)} (fake API server does not accept {content_type!r})",
    )


def not_acceptable(message: str) -> ApiError:
    """406 NotAcceptable."""
    return ApiError(406, "NotAcceptable", message)


def gone(message: str) -> ApiError:
    """410 Expired: a watch asked for a resourceVersion older than the retained history."""
    return ApiError(410, "Expired", message)


def not_implemented(message: str) -> ApiError:
    """501 NotImplemented (used for ``pods/exec``: this fake cannot run processes)."""
    return ApiError(501, "NotImplemented", message)
