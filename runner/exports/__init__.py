"""`runbook export`: the schedules of runbooks in the words of the platform's scheduler.

One module per target, each a function `export(jobs, options) -> Exported`:
cron (crontab lines with CRON_TZ), systemd (.service and .timer units), kubernetes
(CronJob manifests) and windows (Task Scheduler XML). `plan.py` gathers what every
target reads of a runbook (its schedule, zone, concurrency, deadline, catch-up) and
refuses a schedule no other scheduler can read. What a target cannot express of a
runbook is said per runbook, as a note (exported, with the difference) or a refusal
(not exported), never exported as something else.
"""

from __future__ import annotations

#: The targets of `runbook export TARGET`: a module and its function.
TARGETS = {
    "cron": "runner.exports.cron:export",
    "systemd": "runner.exports.systemd:export",
    "kubernetes": "runner.exports.kubernetes:export",
    "windows": "runner.exports.windows:export",
}
