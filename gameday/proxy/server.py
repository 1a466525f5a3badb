"""The HTTP API, route for route as Toxiproxy publishes it (README "HTTP API"), on aiohttp.

Status codes are Toxiproxy's: 201 for a created proxy and for ``/populate``, 200 for a created or updated toxic
and for a proxy update, 204 for deletes and ``/reset``, 400/404/409/500 with ``{"error", "status"}``. Updates
accept POST (what the README and the clients use) and PATCH (what Toxiproxy 2.x prefers). Like Toxiproxy, it
refuses browsers (a ``Mozilla/`` user agent gets 403), so a web page cannot turn faults on through it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gameday.proxy import TOXIPROXY_API_VERSION, errors
from gameday.proxy.proxies import ProxyCollection

COLLECTION = web.AppKey("collection", ProxyCollection)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        raise errors.bad_request_body("EOF")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.bad_request_body(str(exc)) from None


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        return web.Response(text="User agent not allowed\n", status=403)
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return _json(exc.to_json(), exc.status)


def _collection(request: web.Request) -> ProxyCollection:
    return request.app[COLLECTION]


async def proxy_index(request: web.Request) -> web.Response:
    return _json({name: proxy.to_json() for name, proxy in _collection(request).proxies.items()})


async def proxy_create(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    async with collection.lock:
        proxy = await collection.create(body)
    return _json(proxy.to_json(), 201)


async def populate(request: web.Request) -> web.Response:
    collection = _collection(request)
    body = await _body(request)
    async with collection.lock:
        proxies, failure = await collection.populate(body)
    answer: dict[str, Any] = failure.to_json() if failure else {}
    answer["proxies"] = [proxy.to_json() for proxy in proxies]
    return _json(answer, failure.status if failure else 201)


async def proxy_show(request: web.Request) -> web.Response:
    return _json(_collection(request).get(request.match_info["proxy"]).to_json())


async def proxy_update(request: web.Request) -> web.Response:
    collection = _collection(request)
    proxy = collection.get(request.match_info["proxy"])
    body = await _body(request)
    async with collection.lock:
        await proxy.update(body)
    return _json(proxy.to_json())


async def proxy_delete(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        collection.delete(request.match_info["proxy"])
    return web.Response(status=204)


async def toxic_index(request: web.Request) -> web.Response:
    proxy = _collection(request).get(request.match_info["proxy"])
    return _json([toxic.to_json() for toxic in proxy.toxics])


async def toxic_create(request: web.Request) -> web.Response:
    collection = _collection(request)
    proxy = collection.get(request.match_info["proxy"])
    body = await _body(request)
    async with collection.lock:
        toxic = proxy.add_toxic(body)
    return _json(toxic.to_json())


async def toxic_show(request: web.Request) -> web.Response:
    proxy = _collection(request).get(request.match_info["proxy"])
    return _json(proxy.find_toxic(request.match_info["toxic"]).to_json())


async def toxic_update(request: web.Request) -> web.Response:
    collection = _collection(request)
    proxy = collection.get(request.match_info["proxy"])
    body = await _body(request)
    async with collection.lock:
        toxic = proxy.update_toxic(request.match_info["toxic"], body)
    return _json(toxic.to_json())


async def toxic_delete(request: web.Request) -> web.Response:
    collection = _collection(request)
    proxy = collection.get(request.match_info["proxy"])
    async with collection.lock:
        proxy.remove_toxic(request.match_info["toxic"])
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        await collection.reset()
    return web.Response(status=204)


async def version(request: web.Request) -> web.Response:
    return web.Response(
        text=json.dumps({"version": TOXIPROXY_API_VERSION}) + "\n",
        content_type="application/json",
        charset="utf-8",
    )


def make_app(collection: ProxyCollection) -> web.Application:
    app = web.Application(middlewares=[_api_errors])
    app[COLLECTION] = collection
    app.router.add_post("/reset", reset)
    app.router.add_get("/proxies", proxy_index)
    app.router.add_post("/proxies", proxy_create)
    app.router.add_post("/populate", populate)
    app.router.add_get("/proxies/{proxy}", proxy_show)
    app.router.add_post("/proxies/{proxy}", proxy_update)
    app.router.add_patch("/proxies/{proxy}", proxy_update)
    app.router.add_delete("/proxies/{proxy}", proxy_delete)
    app.router.add_get("/proxies/{proxy}/toxics", toxic_index)
    app.router.add_post("/proxies/{proxy}/toxics", toxic_create)
    app.router.add_get("/proxies/{proxy}/toxics/{toxic}", toxic_show)
    app.router.add_post("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    app.router.add_patch("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    app.router.add_delete("/proxies/{proxy}/toxics/{toxic}", toxic_delete)
    app.router.add_get("/version", version)
    return app
