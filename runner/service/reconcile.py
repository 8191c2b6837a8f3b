"""Before a run starts: the runs that died are marked abandoned, and the database
sessions they left behind are ended, so the new run does not wait on their locks.

The state store finds the dead runs (history/reconcile.py); the sessions are on the
runbook's own PostgreSQL connections (databases/orphans.py). The run service brings the
two together because history may not use the runbook's connections. Nothing here fails
a run: what cannot be done is a line in the log (`--verbose`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runner.databases.connections import Connections
from runner.databases.orphans import end_sessions, step_application
from runner.engine.walker import Engine
from runner.history.reconcile import Heartbeat
from runner.history.store import StateStore
from runner.language.config import ConnectionSpec
from runner.language.model import Runbook

Log = Callable[[str], None]


def reconcile_before_run(store: StateStore, runbook: Runbook, engine: Engine, log: Log) -> None:
    """Mark this host's dead runs (and, on a shared store, every host's) abandoned, then
    end the orphaned PostgreSQL sessions of the abandoned runs of `runbook` that no later
    run has followed yet."""
    mask = engine.masker.mask_text
    try:
        for found in store.reconcile():
            what = f"run {found['run_id']} of {found['runbook']}"
            log(f"runbook: {what} was abandoned: {found['error']}")
        orphans = store.orphaned_runs(runbook.name)
    except Exception as error:  # reconciling must never keep a run from starting
        log(f"runbook: runs that died were not reconciled: {mask(str(error))}")
        return
    if not orphans:
        return
    names = [step_application(run_id) for run_id in orphans]
    for spec in postgres_connections(runbook, engine):
        try:
            ended = end_sessions(spec, names, engine.environ)
        except Exception as error:
            log(f"runbook: {mask(str(error))}")
            continue
        if ended:
            log(
                f"runbook: ended {len(ended)} session(s) of abandoned run(s) "
                f"{', '.join(orphans)} on {spec.name!r} (server pids {', '.join(map(str, ended))})"
            )


def postgres_connections(runbook: Runbook, engine: Engine) -> list[ConnectionSpec]:
    """The PostgreSQL connections the steps of `runbook` name, and those of the checks
    and runbooks it calls (which run on the same connections), with --connection
    overrides applied, each once."""
    connections = Connections(engine.config, overrides=engine.options.connection_overrides)
    found: dict[str, ConnectionSpec] = {}
    for name in dict.fromkeys(_named_connections(runbook, engine)):
        try:
            spec = connections.spec(name)
            dialect = connections.dialect(name)
        except Exception:  # an unknown connection: the step that uses it will say so
            continue
        if spec.kind == "odbc" and dialect == "postgres":
            found.setdefault(spec.name, spec)
    return list(found.values())


def _named_connections(runbook: Runbook, engine: Engine) -> list[str]:
    named: list[str] = []
    todo, seen = [runbook], {runbook.name}
    while todo:
        model = todo.pop()
        named += [model.connection or "", *(step.connection or "" for step in model.all_steps())]
        for step in model.all_steps():
            call = getattr(step.config, "name", None)
            if step.action not in ("check", "runbook") or not isinstance(call, str):
                continue
            try:
                load = engine.library.check if step.action == "check" else engine.library.runbook
                called = load(call)
            except Exception:  # not found or invalid: the run says so when it gets there
                continue
            if called.name not in seen:
                seen.add(called.name)
                todo.append(called)
    return [name for name in named if name]


def with_heartbeat(
    verify: Callable[[str], None], store: StateStore, run_id: str, log: Log
) -> Callable[[str], Any]:
    """`verify` (the lock check the engine calls before each step), preceded by the run's
    heartbeat: the store learns the run was alive then (at most every few seconds)."""
    beat = Heartbeat(lambda: store.mark_seen(run_id), log=log)

    def check(before: str) -> None:
        beat()
        verify(before)

    return check
