"""`runbook serve`: the read-only web dashboard (issue 14).

An ASGI app (Starlette, `app.py`) served by uvicorn (`server.py`), its pages drawn by
Jinja templates (`templates/`) and refreshed by htmx (`static/htmx.min.js`, htmx 2.0.11
from the npm package `htmx.org`, with its licence in `static/htmx.LICENSE`), served from
the wheel: no CDN, no build step, and every page is complete with JavaScript off. What
the overview shows is gathered in `overview.py`; what a run's page shows, in `run.py`.

This package is at cli's level: it reads the library, the state store and the reports
below it, and never imports cli. What `runbook status` works out of each runbook (its
last run, open alert and lateness) is cli's, and is handed to the app as a function
(`Sources`), as the step types are handed to the library. Starlette and uvicorn are
imported only here, so `runbook run` never loads them.
"""
