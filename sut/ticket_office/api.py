"""The HTTP API (``/v2``), the probes (``/_status``) and ``/metrics``, as Starlette routes.

Every error answer is ``{"error": {"code", "message"}}``: 400 bad body, 401 no or unknown token,
404 unknown id, 409 conflict, 503 a dependency cannot serve the request.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import Config
from .errors import ApiError, Unavailable
from .health import Readiness
from .metrics import UNAVAILABLE_REASON_KEY, Metrics
from .release import apply_release
from .sessions import Sessions
from .store import Store


@dataclass(frozen=True)
class Services:
    """What the endpoints use, kept in ``app.state.services``."""

    config: Config
    store: Store
    sessions: Sessions
    readiness: Readiness
    metrics: Metrics
    started_at: float


class LoginBody(BaseModel):
    """``POST /v2/sessions``."""

    model_config = ConfigDict(extra="forbid", strict=True)
    user: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class HoldBody(BaseModel):
    """``POST /v2/events/{event_id}/holds`` (the body may be empty: one seat)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    seats: int = Field(1, ge=1, le=10)


def _services(request: Request) -> Services:
    return request.app.state.services


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON of every error answer."""
    return {"error": {"code": code, "message": message}}


async def _parse(request: Request, model: type[BaseModel]) -> Any:
    """The request's JSON body as ``model``, or 400."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
        return model.model_validate(data)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "bad_request", f"body is not JSON: {exc.msg}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ApiError(400, "bad_request", f"{where}: {first['msg']}") from None


async def _user(request: Request) -> str:
    """The user of the request's bearer token, or 401 (Redis unreachable: 503)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token> (POST /v2/sessions gives one)")
    user = await _services(request).sessions.user_of(token.strip())
    if user is None:
        raise ApiError(401, "invalid_token", "unknown or expired token")
    return user


# --- API ------------------------------------------------------------------------------------------

async def create_session(request: Request) -> Response:
    """Log in: a bearer token for the user, stored in Redis with a TTL."""
    body: LoginBody = await _parse(request, LoginBody)
    sessions = _services(request).sessions
    token = await sessions.create(body.user)
    return JSONResponse({"token": token, "user": body.user, "expires_in": sessions.ttl_seconds}, status_code=201)


async def list_events(request: Request) -> Response:
    """Every event with its seats left."""
    events = await _services(request).store.list_events()
    return JSONResponse({"data": events, "count": len(events)})


async def get_event(request: Request) -> Response:
    """One event."""
    event = await _services(request).store.get_event(request.path_params["event_id"])
    return JSONResponse({"event": event})


async def create_hold(request: Request) -> Response:
    """Hold seats of an event for the session's user."""
    user = await _user(request)
    body: HoldBody = await _parse(request, HoldBody)
    hold = await _services(request).store.create_hold(user, request.path_params["event_id"], body.seats)
    return JSONResponse({"hold": hold}, status_code=201)


async def purchase_hold(request: Request) -> Response:
    """Turn one of the user's holds into a ticket."""
    user = await _user(request)
    ticket = await _services(request).store.purchase(user, request.path_params["hold_id"])
    return JSONResponse({"ticket": ticket}, status_code=201)


async def get_ticket(request: Request) -> Response:
    """One of the user's tickets."""
    user = await _user(request)
    ticket = await _services(request).store.get_ticket(user, request.path_params["ticket_id"])
    return JSONResponse({"ticket": ticket})


# --- probes and metrics ---------------------------------------------------------------------------

async def alive(request: Request) -> Response:
    """Liveness: 200 while the process serves HTTP; no dependency is consulted."""
    s = _services(request)
    return JSONResponse({"alive": True, "version": s.config.release.version,
                         "instance": s.config.server.instance, "uptime_s": round(time.time() - s.started_at, 1)})


async def ready(request: Request) -> Response:
    """Readiness from the background checks: 200, or 503 while PostgreSQL or Redis fails. No I/O."""
    s = _services(request)
    is_ready, body = s.readiness.verdict()
    body = {**body, "version": s.config.release.version, "instance": s.config.server.instance}
    if not is_ready:
        request.scope[UNAVAILABLE_REASON_KEY] = "; ".join(
            f"{name}: {body['checks'][name]['error']}" for name in body["failing"])
    return JSONResponse(body, status_code=200 if is_ready else 503, headers={"Cache-Control": "no-store"})


async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(_services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


def routes(config: Config) -> list[Route]:
    """The routing table; the API endpoints as the configured release serves them."""
    api = [
        ("/v2/sessions", create_session, ["POST"]),
        ("/v2/events", list_events, ["GET"]),
        ("/v2/events/{event_id}", get_event, ["GET"]),
        ("/v2/events/{event_id}/holds", create_hold, ["POST"]),
        ("/v2/holds/{hold_id}/purchase", purchase_hold, ["POST"]),
        ("/v2/tickets/{ticket_id}", get_ticket, ["GET"]),
    ]
    return [
        *(Route(path, apply_release(endpoint, config.release), methods=methods) for path, endpoint, methods in api),
        Route("/_status/alive", alive, methods=["GET"]),
        Route("/_status/ready", ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


# --- error answers --------------------------------------------------------------------------------

async def api_error(request: Request, exc: ApiError) -> Response:
    """400/401/404/409 as JSON."""
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status, headers=headers)


async def unavailable(request: Request, exc: Unavailable) -> Response:
    """503 when a dependency the request needs cannot serve it (the reason goes to the log, not the client)."""
    request.scope[UNAVAILABLE_REASON_KEY] = str(exc)
    return JSONResponse(error_body("unavailable", f"{exc.dependency} unavailable, retry later"), status_code=503,
                        headers={"Retry-After": "1"})


async def http_error(request: Request, exc: HTTPException) -> Response:
    """Unknown path (404) or method (405), as JSON."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


EXCEPTION_HANDLERS = {ApiError: api_error, Unavailable: unavailable, HTTPException: http_error}
