"""`runbook export cron`: crontab lines, one block per runbook with its `CRON_TZ`.

No `flock`: the runner takes the runbook's lock itself (concurrency: skip | wait |
allow), and ends a run at its deadline. `CRON_TZ` sets the zone of the lines after it
(cronie reads it; a cron that does not reads every line in its own zone: `man 5
crontab` says which). cron has no catch-up: a run missed while the host was down is not
run, which a note says for each runbook that asks for catch-up. jitter becomes a random
`sleep` before the run, in bash.
"""

from __future__ import annotations

import shlex

from runner.base.durations import format_duration
from runner.exports.plan import Exported, Job, Options

__all__ = ["export"]


def export(jobs: list[Job], options: Options) -> Exported:
    out = Exported()
    lines = [
        "# runbook export cron: install with `crontab -e` (or `crontab FILE`, which replaces",
        "# the whole crontab) as the user that owns the runner's var/ folder.",
        "# No flock: the runner locks each runbook itself (concurrency:).",
    ]
    if any(job.jitter for job in jobs):
        lines.append("SHELL=/bin/bash")
    for job in jobs:
        lines.append("")
        title = " ".join(job.title.split())  # a newline would end the comment
        lines.append(f"# {job.name}: {title}" if title else f"# {job.name}")
        lines.append(f"# from {job.path}")
        if job.catchup != "none":
            message = (
                f"catchup: {job.catchup} cannot be expressed by cron: a run missed while the "
                "host was down is not run (systemd's Persistent= or the runner's scheduler "
                "catch up)"
            )
            out.note(job, message)
            lines.append(f"# {message}")
        if job.jitter:
            lines.append(f"# jitter: a random sleep of up to {format_duration(job.jitter)} first")
        lines.append(f"CRON_TZ={job.timezone}")
        lines.append(f"{job.schedule} {_command(job, options)}")
    out.files["crontab"] = "\n".join(lines) + "\n"
    return out


def _command(job: Job, options: Options) -> str:
    """The command of a crontab line, `%` escaped (cron reads it as a newline)."""
    argv = [*options.command, *job.run_args()]
    command = f"cd {shlex.quote(str(job.workdir))} && {shlex.join(argv)} >/dev/null"
    if job.jitter:
        # up to `jitter` seconds at random ($RANDOM is 0-32767, so at most about 9h)
        seconds = min(max(int(job.jitter), 1), 32767)
        command = f"sleep $((RANDOM % {seconds + 1})); {command}"
    return command.replace("%", "\\%")
