"""The Shopify returns service of seed 004, as a demo: `runbook demo serve returns`.

It answers the endpoints the seed's runbook calls, as the FastAPI app behind them would:
`/api/health`; with an `X-Tenant-Id` header (400 without it, 404 for a tenant it does
not know) `/api/integrations/shopify/status` (the OAuth token, the webhook
subscriptions and how they fare), `/api/integrations/shopify/jobs` (sync jobs, newest
first), `POST /api/integrations/shopify/resync`, `GET /api/returns/`, and the customer
portal's `POST /api/elite/portal/returns/lookup-order` and `.../returns/create`; the
webhooks `POST /api/webhooks/orders/create` (and `orders/updated`, `app/uninstalled`),
which verify Shopify's signature (`X-Shopify-Hmac-Sha256`: base64 of HMAC-SHA256 of the
raw body with the app's secret, `SHOPIFY_API_SECRET`, a demo default when unset) and
refuse a bad one with 401; and the OAuth install and callback. Under var/demo/returns it
keeps the supervisor logs (`logs/`) and the nightly backups (`backup/`; `backup-failed`
rewrites them at the first request after it is switched). What each
answer says comes from returns_story.py.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import urlencode

from runner.demos import returns_story as story
from runner.demos.base import DemoState

NAME = "returns"
TITLE = "Shopify returns service (seed 004)"
LISTEN = ("127.0.0.1", 3000)
FAULTS = {
    "oauth-down": "the shop's access token is revoked: the Shopify status says token_invalid "
    "with Shopify's 401, syncs fail, resync is refused",
    "webhooks-failing": "webhooks are not processed: the app verifies with a stale secret, so "
    "Shopify's signed webhooks get 401 (41 HMAC failures in 15 minutes), two of three "
    "subscriptions are gone, 126 events wait, the last processed 190 minutes ago",
    "sync-stalled": "the data sync is stuck: a job running for 95 minutes holds the lock, the "
    "last one finished 6 hours ago, newer orders are 'Order not found' in the portal",
    "portal-errors": "the customer portal fails: order lookup and return creation answer 500, "
    "the error rate is 10% over 5 minutes",
    "slow": "API responses take 3.5 s (the 5-minute average 4.2 s), MongoDB connections at 88%",
    "db-down": "MongoDB is unreachable: /api/health and every database read answer 500",
    "backup-failed": "the nightly backup has failed for three nights (disk full): the newest "
    "database and configuration backups are 3 nights old and that last dump is cut short "
    "(the backup files change at the demo's next request after a switch)",
}

#: How long `slow` makes the returns list (the seed's timed `curl .../api/returns/`) take.
SLOW_SECONDS = 3.5
_DB_ERROR = "ServerSelectionTimeoutError: localhost:27017: [Errno 111] Connection refused"


def build(state: DemoState) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    story.write_files(state.root, state.clock(), state.has)
    written = {"faults": state.faults}

    def sync_backups(faults: frozenset[str]) -> None:
        """The backups follow `backup-failed` as soon as it is switched."""
        if ("backup-failed" in faults) != ("backup-failed" in written["faults"]):
            story.write_backups(state.root, state.clock(), lambda fault: fault in faults)
        written["faults"] = faults

    state.on_faults(sync_backups)

    def error(status: int, detail: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status)

    def tenant_refused(request: Request) -> JSONResponse | None:
        """The app's tenant dependency: the header is required and must name a tenant."""
        tenant = request.headers.get("x-tenant-id")
        if not tenant:
            return error(400, "X-Tenant-Id header is required")
        if tenant != story.TENANT:
            return error(404, f"Tenant not found: {tenant}")
        if state.has("db-down"):
            return error(500, f"Database unavailable: {_DB_ERROR}")
        return None

    def base_url(request: Request) -> str:
        return os.environ.get("APP_URL") or str(request.base_url).rstrip("/")

    async def health(request: Request) -> JSONResponse:
        now = state.clock()
        if state.has("db-down"):
            body = {"status": "unhealthy", "database": "disconnected", "error": _DB_ERROR}
            return JSONResponse({**body, "timestamp": story.iso(now)}, 500)
        return JSONResponse(story.health(now, state.has))

    async def shopify_status(request: Request) -> JSONResponse:
        refused = tenant_refused(request)
        if refused:
            return refused
        return JSONResponse(story.shopify_status(state.clock(), state.has, base_url(request)))

    async def jobs(request: Request) -> JSONResponse:
        return tenant_refused(request) or JSONResponse(story.jobs(state.clock(), state.has))

    async def resync(request: Request) -> JSONResponse:
        refused = tenant_refused(request)
        if refused:
            return refused
        if state.has("oauth-down"):
            return error(401, f"Shopify API 401: {story.TOKEN_ERROR}")
        asked = await _json(request)
        kind = asked.get("type", "incremental") if isinstance(asked, dict) else "incremental"
        job = f"sync-{int(state.clock()) // 60}"
        return JSONResponse({"job_id": job, "status": "queued", "type": kind}, 202)

    async def returns_list(request: Request) -> JSONResponse:
        refused = tenant_refused(request)
        if refused:
            return refused
        if state.has("slow"):
            await asyncio.sleep(SLOW_SECONDS)
        return JSONResponse(story.returns_list(state.clock()))

    async def lookup_order(request: Request) -> JSONResponse:
        refused = tenant_refused(request)
        if refused:
            return refused
        if state.has("portal-errors"):
            return error(500, "Internal Server Error")
        asked = await _json(request)
        number = str(asked.get("order_number", "")) if isinstance(asked, dict) else ""
        email = str(asked.get("customer_email", "")) if isinstance(asked, dict) else ""
        if not number or not email:
            return error(422, "order_number and customer_email are required")
        found = story.order(number, email, state.clock(), state.has)
        if found is None:
            return error(404, "Order not found")
        return JSONResponse({"order": found})

    async def create_return(request: Request) -> JSONResponse:
        refused = tenant_refused(request)
        if refused:
            return refused
        if state.has("portal-errors"):
            return error(500, "Internal Server Error")
        asked = await _json(request)
        if not isinstance(asked, dict) or not asked.get("order_id") or not asked.get("items"):
            return error(422, "order_id and items are required")
        created = {"id": f"ret-{int(state.clock())}", "status": "requested", **asked}
        return JSONResponse(created, 201)

    async def webhook(request: Request) -> JSONResponse:
        topic = request.path_params["topic"]
        if topic not in story.WEBHOOK_TOPICS:
            return error(404, f"no webhook {topic}")
        body = await request.body()
        key = story.stale_secret() if state.has("webhooks-failing") else None
        if not story.signed(body, request.headers.get("x-shopify-hmac-sha256"), key):
            return error(401, "HMAC verification failed")
        if state.has("db-down"):
            return error(500, "Webhook processing failed: could not store the event")
        return JSONResponse({"received": True, "topic": topic})

    async def install(request: Request) -> Response:
        shop = request.query_params.get("shop", "")
        if not shop.endswith(".myshopify.com"):
            return error(400, "shop must be a *.myshopify.com domain")
        query = urlencode(
            {
                "client_id": "demo-client-id",
                "scope": "read_orders,write_returns,read_customers",
                "redirect_uri": f"{base_url(request)}/api/auth/shopify/callback",
                "state": f"demo-{int(state.clock())}",
            }
        )
        return RedirectResponse(f"https://{shop}/admin/oauth/authorize?{query}", 302)

    async def callback(request: Request) -> Response:
        if request.method == "HEAD":
            return Response(status_code=400)
        return error(400, "missing code, shop or state")

    return Starlette(
        routes=[
            Route("/api/health", health),
            Route("/api/integrations/shopify/status", shopify_status),
            Route("/api/integrations/shopify/jobs", jobs),
            Route("/api/integrations/shopify/resync", resync, methods=["POST"]),
            Route("/api/returns/", returns_list),
            Route("/api/elite/portal/returns/lookup-order", lookup_order, methods=["POST"]),
            Route("/api/elite/portal/returns/create", create_return, methods=["POST"]),
            Route("/api/webhooks/{topic:path}", webhook, methods=["POST"]),
            Route("/api/auth/shopify/install", install),
            Route("/api/auth/shopify/callback", callback, methods=["GET", "HEAD"]),
        ]
    )


async def _json(request: Any) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None
