"""What an export reads of a runbook, gathered once for every target (`Job`), and what
an export gives back: files, and per runbook what could not be expressed (`Note`)."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from runner.language.config import Config
from runner.language.model import Runbook
from runner.language.scheduling import effective_grace
from runner.schedule.fields import CronFields, cron_fields

__all__ = ["Exported", "Job", "Note", "Options", "jobs_of", "runner_command"]

#: Seconds a platform's own time limit leaves beyond a runbook's deadline: the runner
#: ends the run UNKNOWN at its deadline and records it; the platform's kill is a backstop.
DEADLINE_MARGIN = 30
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Options:
    """What the command line says of the targets: how to start the runner, and for
    kubernetes the image and the Secret."""

    command: tuple[str, ...]  # the runner: ("/usr/local/bin/runbook",)
    image: str = "runbook-runner:latest"
    secret: str = "runbook-secrets"
    #: the ${VAR}s of runner.yaml's `state:` (a shared PostgreSQL store); none for SQLite
    state_vars: tuple[str, ...] = ()
    shared_state: bool = False

    @classmethod
    def of(
        cls,
        config: Config,
        command: tuple[str, ...],
        image: str | None = None,
        secret: str | None = None,
    ) -> Options:
        """The options of an export of `config`'s runbooks (image and secret: None for
        the default)."""
        state = config.state_odbc
        names = tuple(dict.fromkeys(_VAR.findall(state.target))) if state is not None else ()
        return cls(
            command,
            image or cls.image,
            secret or cls.secret,
            state_vars=names,
            shared_state=state is not None,
        )


@dataclass(frozen=True)
class Job:
    """A scheduled runbook as every target reads it."""

    name: str
    title: str
    path: str  # the runbook's file, as the library shows it
    schedule: str
    fields: CronFields
    timezone: str  # an IANA name; UTC when neither the runbook nor runner.yaml names one
    concurrency: str  # skip | wait | allow
    deadline: float | None  # seconds; None: no limit
    catchup: str  # none | latest | all
    catchup_window: float
    grace: float
    jitter: float
    window_written: bool  # `catchup_window:` is in the file (not the default)
    config: Path | None  # runner.yaml, absolute
    workdir: Path  # where runner.yaml is

    def run_args(self) -> list[str]:
        """The arguments of the runner after its program: config, run NAME, trigger."""
        config = ["--config", str(self.config)] if self.config is not None else []
        return [*config, "run", self.name, "--trigger", "schedule"]


@dataclass(frozen=True)
class Note:
    """What a target could not express of one runbook. `refused`: it was not exported
    (its schedule cannot be written there); else exported, and this is the difference."""

    runbook: str
    message: str
    refused: bool = False

    def format(self) -> str:
        """`name: message`; an export's note about every runbook has no name."""
        where = f"{self.runbook}: " if self.runbook else ""
        return f"{where}{'not exported: ' if self.refused else ''}{self.message}"


@dataclass
class Exported:
    """The files of an export (name -> text), in order, and its notes."""

    files: dict[str, str] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    def note(self, job: Job, message: str) -> None:
        self.notes.append(Note(job.name, message))

    def refuse(self, job: Job, message: str) -> None:
        self.notes.append(Note(job.name, message, refused=True))


def jobs_of(models: Iterable[Runbook], config: Config) -> tuple[list[Job], list[Note]]:
    """The jobs of the runbooks that have a schedule other schedulers can read, and a
    refusal for each one whose schedule uses a croniter extension (L, W, #)."""
    jobs: list[Job] = []
    refused: list[Note] = []
    for model in models:
        assert model.schedule is not None
        fields = cron_fields(model.schedule)
        if isinstance(fields, str):
            refused.append(Note(model.name, fields, refused=True))
            continue
        grace = effective_grace(model)
        jobs.append(
            Job(
                name=model.name,
                title=model.title,
                path=model.path,
                schedule=model.schedule,
                fields=fields,
                timezone=model.timezone or "UTC",
                concurrency=model.concurrency,
                deadline=model.deadline or None,
                catchup=model.catchup,
                catchup_window=model.catchup_window,
                grace=grace if grace is not None else 300.0,
                jitter=model.jitter,
                window_written="catchup_window" in model.keys,
                config=config.path.resolve() if config.path is not None else None,
                workdir=config.root.resolve(),
            )
        )
    return jobs, refused


def runner_command() -> tuple[str, ...]:
    """How a platform starts this very runner: the `runbook` script beside this Python
    (a virtualenv's bin/), else the one on PATH, else `python -m runner`."""
    beside = Path(sys.executable).with_name("runbook")
    if beside.is_file():
        return (str(beside),)
    found = shutil.which("runbook")
    if found:
        return (str(Path(found).resolve()),)
    return (sys.executable, "-m", "runner")
