"""`runbook export kubernetes`: a batch/v1 CronJob per runbook, as one YAML stream.

- `timeZone` is the runbook's zone; `schedule` its cron expression.
- `concurrencyPolicy`: skip is Forbid (Kubernetes does not start an overlapping job);
  wait and allow are Allow (the pod starts; the runner waits on, or ignores, the lock,
  which holds across pods only on a shared PostgreSQL state store).
- `startingDeadlineSeconds`: how late a missed run may still start, which is catch-up
  as Kubernetes has it (it starts the latest missed one): the catchup_window for
  `latest`, the grace for `none` (on time or not at all), at least 10 seconds (the
  controller's tick). `all` is run as `latest`, said in a note.
- `activeDeadlineSeconds` backs the runbook's deadline.
- The state store and every `${VAR}` runner.yaml reads come from a Secret: the ones of
  `state:` each by name (a pod does not start without them), the rest by `envFrom`.

There is no jitter in a CronJob: a note says so.
"""

from __future__ import annotations

import re
from typing import Any

from runner.base.durations import format_duration
from runner.exports.plan import DEADLINE_MARGIN, Exported, Job, Note, Options

__all__ = ["export", "resource_name"]

#: A CronJob's name is at most 52 characters (the controller appends 11 to its jobs').
_MAX_NAME = 52
#: A label value: at most 63 characters, starting and ending with a letter or digit.
_LABEL = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
#: The CronJob controller looks for due jobs every 10 seconds.
_LEAST_STARTING_DEADLINE = 10


def resource_name(job: Job) -> str:
    """`runbook-<name>` as a DNS subdomain: lowercase, `_` as `-`, at most 52 characters."""
    name = re.sub(r"[^a-z0-9.-]", "-", f"runbook-{job.name}".lower())
    return name[:_MAX_NAME].rstrip("-.")


def export(jobs: list[Job], options: Options) -> Exported:
    import yaml

    out = Exported()
    documents = []
    taken: dict[str, str] = {}
    for job in jobs:
        name = resource_name(job)
        if name in taken:
            out.refuse(job, f"its CronJob would be named {name}, as {taken[name]}'s is")
            continue
        taken[name] = job.name
        documents.append(_cronjob(job, options, out))
    if jobs and not options.shared_state:
        out.notes.append(
            Note(
                "",
                "the state store is a SQLite file: in a pod it is lost with the pod, and "
                "history, locks and late detection with it; give runner.yaml a shared "
                'PostgreSQL store (state: {odbc: "${RUNBOOK_STATE_ODBC}"}) and that '
                f"variable to the Secret {options.secret}",
            )
        )
    header = (
        "# runbook export kubernetes: install with `kubectl apply -f FILE`, after creating\n"
        f"# the Secret {options.secret} with the variables runner.yaml reads (${{VAR}}).\n"
    )
    text = header + yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)
    out.files["cronjobs.yaml"] = text
    return out


def _cronjob(job: Job, options: Options, out: Exported) -> dict[str, Any]:
    def labels() -> dict[str, str]:  # a mapping each: one object twice would be a YAML alias
        found = {"app.kubernetes.io/name": "runbook"}
        if _LABEL.match(job.name):
            found["app.kubernetes.io/instance"] = job.name
        return found

    container: dict[str, Any] = {
        "name": "runbook",
        "image": options.image,
        "args": ["run", job.name, "--trigger", "schedule"],
    }
    if options.state_vars:
        container["env"] = [
            {
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": options.secret, "key": name}},
            }
            for name in options.state_vars
        ]
    container["envFrom"] = [{"secretRef": {"name": options.secret, "optional": True}}]
    job_spec: dict[str, Any] = {"backoffLimit": 0}
    if job.deadline:
        job_spec["activeDeadlineSeconds"] = int(job.deadline) + DEADLINE_MARGIN
    job_spec["template"] = {
        "metadata": {"labels": labels()},
        "spec": {"restartPolicy": "Never", "containers": [container]},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": resource_name(job),
            "labels": labels(),
            "annotations": {"runbook-runner/runbook": job.name, "runbook-runner/file": job.path},
        },
        "spec": {
            "schedule": job.schedule,
            "timeZone": job.timezone,
            "concurrencyPolicy": "Forbid" if job.concurrency == "skip" else "Allow",
            "startingDeadlineSeconds": _starting_deadline(job, out),
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels()}, "spec": job_spec},
        },
    }


def _starting_deadline(job: Job, out: Exported) -> int:
    if job.jitter:
        out.note(
            job,
            f"jitter: {format_duration(job.jitter)} cannot be expressed by a CronJob: "
            "its runs start on time",
        )
    if job.catchup == "all":
        out.note(
            job,
            "catchup: all cannot be expressed by a CronJob: it starts the latest missed "
            "run only (as catchup: latest)",
        )
    seconds = job.grace if job.catchup == "none" else job.catchup_window
    return max(int(seconds), _LEAST_STARTING_DEADLINE)
