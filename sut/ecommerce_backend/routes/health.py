"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from ..context import AppContext, get_ctx
from ..metrics import UNAVAILABLE_REASON_KEY

router = APIRouter(tags=["probes"])


@router.get("/healthz")
async def healthz(ctx: AppContext = Depends(get_ctx)) -> dict[str, Any]:
    """Liveness: 200 whenever the process is up (no dependency is consulted)."""
    return {"status": "ok", "version": ctx.settings.APP_VERSION, "pod": ctx.settings.POD_NAME}


@router.get("/readyz")
async def readyz(request: Request, ctx: AppContext = Depends(get_ctx)) -> JSONResponse:
    """Readiness from the cached dependency states: 200 ready/degraded, 503 not ready. Never does I/O."""
    verdict = ctx.readiness.evaluate()
    if verdict.http_status == 503:
        request.scope[UNAVAILABLE_REASON_KEY] = verdict.reason
    return JSONResponse(ctx.readiness.body(verdict), status_code=verdict.http_status,
                        headers={"Cache-Control": "no-store"})
