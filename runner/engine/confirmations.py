"""Confirmations: asking for a step's `confirm:`, and refusing a run without a terminal.

A run without a terminal (a pipe, cron, the scheduler's daemon) and without `--yes` is
refused before anything runs when a step that may run needs a confirmation; a step the
prediction did not see coming is refused when the run reaches it. Nothing is ever read
from a pipe or a daemon's stdin as an answer.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from runner.base.errors import ConfirmationRefused, TemplateError
from runner.engine.options import Options
from runner.language import templates
from runner.language.model import Runbook, Step

__all__ = ["confirm", "interactive", "refuse_unconfirmed"]


def interactive(options: Options) -> bool:
    """Whether a confirmation can be asked: as the options say, else when stdin is a
    terminal."""
    if options.interactive is not None:
        return options.interactive
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # a closed stdin
        return False


def confirm(
    step: Step, scope: Mapping[str, Any], options: Options, mask: Callable[[str], str]
) -> None:
    """Ask for `step`'s confirmation; ConfirmationRefused unless it is given. Without a
    terminal nothing is asked: an answer read from a pipe (or from a daemon's stdin) is
    no confirmation, so a step the up-front prediction did not see coming (a `when:`
    that only the run makes true, a called runbook's step) is refused. The question is
    shown with the run's secrets masked (`mask`)."""
    if options.mode == "dry-run" or options.assume_yes:
        return
    if not interactive(options):
        raise ConfirmationRefused(
            f"{step.id}: must be confirmed, and there is no terminal to ask: "
            "run it with --yes to confirm; the run stops here"
        )
    question = mask(str(templates.render_value(step.confirm, scope, str(step.origin))))
    answer = options.ask(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ConfirmationRefused(f"{step.id}: not confirmed; the run stops here")


def refuse_unconfirmed(runbook: Runbook, scope: Mapping[str, Any], options: Options) -> None:
    """ConfirmationRefused before anything runs when a step that may run needs a
    confirmation and there is no terminal to ask. `scope`: the run's, before any step."""
    if options.mode == "dry-run" or options.assume_yes or interactive(options):
        return
    needing: list[str] = []
    for group in (runbook.steps, runbook.on_failure, runbook.finally_):
        _may_confirm(group, scope, needing)
    if needing:
        raise ConfirmationRefused(
            f"{runbook.name}: step{'s' if len(needing) > 1 else ''} {', '.join(needing)} "
            "must be confirmed, and there is no terminal to ask: run it with --yes to confirm"
        )


def _may_confirm(steps: tuple[Step, ...], scope: Mapping[str, Any], into: list[str]) -> None:
    """Into `into`, the ids of the steps with `confirm:` that may run: not those that a
    `when:` of their own, or of a group or for_each around them, switches off."""
    for step in steps:
        if _switched_off(step, scope):
            continue  # and everything nested in it
        if step.confirm:
            into.append(step.id)
        _may_confirm(step.steps, scope, into)


def _switched_off(step: Step, scope: Mapping[str, Any]) -> bool:
    """Whether what the run knows as it starts (inputs, env, vars, now, run: the scope the
    run itself uses, before any step) says that `step` will not run (`when: inputs.fix`
    with fix false), so that a run without a terminal need not confirm it: a
    troubleshooting runbook's opt-in fix does not stop its scheduled diagnosis. A
    prediction only: a step it misses is refused when it comes (confirm)."""
    if step.when is None:
        return False
    try:
        return not templates.evaluate(step.when, scope, str(step.origin))
    except TemplateError:
        return False  # it reads what only the run makes (steps, an item): ask
