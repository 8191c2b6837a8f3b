"""The dashboard's ASGI app: its routes, templates, static files and security headers.

Every handler is a plain function: Starlette runs it in its thread pool, so a slow read
of the state store never holds up the event loop (and the other clients)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runner.base.durations import format_duration
from runner.base.errors import RunbookError
from runner.base.wording import value_text
from runner.web.history import STATUSES, BadFilter, history_page, parse_query
from runner.web.overview import STRIP, Sources, overview
from runner.web.run import recorded_run, step_rows
from runner.web.runbook import SERIES, runbook_view

HERE = Path(__file__).resolve().parent

#: How often the overview asks for its table again, in seconds.
REFRESH = 15

#: Sent with every response. The CSP allows no inline script or style (htmx's own
#: indicator style is switched off by the page's htmx-config), and no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware: SECURITY_HEADERS on every HTTP response, errors and static files
    included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in SECURITY_HEADERS.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.headers}
                kept = [item for item in message.get("headers", []) if item[0] not in names]
                message = {**message, "headers": [*kept, *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _filters(request: Request) -> dict[str, str | None]:
    return {
        "tag": request.query_params.get("tag") or None,
        "kind": request.query_params.get("kind") or None,
    }


def _json(body: Any) -> Response:
    """`body` as the API answers it: indented JSON, never cached."""
    text = json.dumps(body, default=str, indent=2) + "\n"
    return Response(text, media_type="application/json", headers={"Cache-Control": "no-store"})


def create_app(sources: Sources) -> ASGIApp:
    """The dashboard of the library and state store that `sources` read."""
    templates = Jinja2Templates(
        env=jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )

    templates.env.filters["pretty_json"] = lambda value: json.dumps(value, default=str, indent=2)
    templates.env.filters["duration"] = format_duration  # 850ms, 12.3s, 5m: as the CLI says
    # an evaluation's value, limits: 2.5, true, as results read them (not Python's True)
    templates.env.filters["shown"] = lambda value: "-" if value is None else value_text(value)

    def _problem(request: Request, status: int, page: str, message: str) -> Response:
        """What went wrong, as JSON ({"error": message}) under /api/, else as `page`."""
        headers = {"Cache-Control": "no-store"}
        if request.url.path.startswith("/api/"):
            body = json.dumps({"error": message}, indent=2) + "\n"
            return Response(body, status, headers, media_type="application/json")
        return templates.TemplateResponse(
            request, page, {"message": message}, status_code=status, headers=headers
        )

    def overview_page(request: Request) -> Response:
        filters = _filters(request)
        found = overview(sources, **filters)
        context = {
            "overview": found,
            "filters": filters,
            "refresh": REFRESH,
            "strip": STRIP,
            "query": request.url.query,
        }
        # htmx asks for the table alone (the header HX-Request); a browser gets the page
        name = "table.html" if request.headers.get("HX-Request") == "true" else "overview.html"
        return templates.TemplateResponse(
            request, name, context, headers={"Vary": "HX-Request", "Cache-Control": "no-store"}
        )

    def runbooks_api(request: Request) -> Response:
        return _json(overview(sources, **_filters(request)).runbooks)

    def runbook_page(request: Request) -> Response:
        name = request.path_params["name"]
        found = runbook_view(sources.library(), name)
        if found is None:
            return _not_found(request, f"no runbook named {name!r} in the library")
        context = {"book": found, "limit": SERIES}
        return templates.TemplateResponse(
            request, "runbook.html", context, headers={"Cache-Control": "no-store"}
        )

    def runbook_api(request: Request) -> Response:
        name = request.path_params["name"]
        found = runbook_view(sources.library(), name)
        if found is None:
            return _not_found(request, f"no runbook named {name!r} in the library")
        return _json(found)

    def run_page(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        found = recorded_run(sources.library(), run_id)
        if found is None:
            return _not_found(request, f"no run with id {run_id!r} in the state store")
        context = {
            "run": found,
            "steps": step_rows(found["steps"]),
            "bad": ("WARNING", "CRITICAL", "UNKNOWN"),
        }
        return templates.TemplateResponse(
            request, "run.html", context, headers={"Cache-Control": "no-store"}
        )

    def run_api(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        found = recorded_run(sources.library(), run_id)
        if found is None:
            return _not_found(request, f"no run with id {run_id!r} in the state store")
        return _json(found)

    def history(request: Request) -> Response:
        try:
            query = parse_query(request.query_params)
        except BadFilter as error:
            return _problem(request, 400, "bad_request.html", str(error))
        found = history_page(sources.library(), query)
        context = {
            "page": found,
            "filters": query.filters,
            "statuses": STATUSES,
            "later": query.after is not None,
            "first_query": urlencode(query.filters),
            "query": request.url.query,
        }
        return templates.TemplateResponse(
            request, "history.html", context, headers={"Cache-Control": "no-store"}
        )

    def history_api(request: Request) -> Response:
        try:
            query = parse_query(request.query_params)
        except BadFilter as error:
            return _problem(request, 400, "bad_request.html", str(error))
        found = history_page(sources.library(), query)
        next_url = f"/api/history?{found.next_query}" if found.next_query else None
        return _json({"runs": found.runs, "next": found.next, "next_url": next_url})

    def _not_found(request: Request, message: str) -> Response:
        """404 for a run the store does not have (or an id no run could have), or a
        runbook the library does not have: `message` says which."""
        return _problem(request, 404, "not_found.html", message)

    def metrics(request: Request) -> Response:
        """The Prometheus exposition of every runbook (`runbook metrics`), read afresh at
        each scrape."""
        from prometheus_client import CONTENT_TYPE_LATEST

        from runner.service.metrics import metrics_text

        return Response(
            metrics_text(sources.library()),
            headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )

    def unavailable(request: Request, error: Exception) -> Response:
        """What stops a page (the state store damaged or unreachable, runner.yaml's store
        wrong): said as `runbook status` says it, with 503, never as a traceback."""
        from runner.base.masking import Masker

        masker = Masker()
        masker.add_env(os.environ)
        message = masker.mask_text(getattr(error, "format_message", lambda: str(error))())
        return _problem(request, 503, "unavailable.html", message)

    app = Starlette(
        exception_handlers={RunbookError: unavailable},
        routes=[
            Route("/", overview_page, name="overview"),
            Route("/api/runbooks", runbooks_api, name="api_runbooks"),
            Route("/runbooks/{name}", runbook_page, name="runbook"),
            Route("/api/runbooks/{name}", runbook_api, name="api_runbook"),
            Route("/runs/{run_id}", run_page, name="run"),
            Route("/api/runs/{run_id}", run_api, name="api_run"),
            Route("/history", history, name="history"),
            Route("/api/history", history_api, name="api_history"),
            Route("/metrics", metrics, name="metrics"),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
    )
    return SecurityHeaders(app)
