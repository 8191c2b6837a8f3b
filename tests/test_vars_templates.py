"""A runbook's `vars:` may be templates of env, inputs, now, run and the vars above it,
rendered once as the run starts: the base URL from the environment, with a default."""

from __future__ import annotations

from typing import Any

import pytest

from runner.base.errors import TemplateError

RUNBOOK = """
runbook: probe
title: "Probe of {{ vars.base }}"
kind: health-check
inputs:
  path: {type: string, default: /health}
vars:
  base: "{{ env.PROBE_URL | default('http://127.0.0.1:8000') }}"
  health: "{{ vars.base }}{{ inputs.path }}"
  tries: 3
steps:
  - id: say
    command: [echo, "{{ vars.health }} {{ vars.tries + 1 }}"]
"""


def _stdout(run: Any) -> str:
    return str(run.steps[0].values["stdout"]).strip()


def test_a_var_defaults_when_the_variable_is_unset(project: Any) -> None:
    project.runbook("probe", RUNBOOK)
    run = project.run("probe", environ={})
    assert str(run.status) == "OK"
    assert _stdout(run) == "http://127.0.0.1:8000/health 4"
    assert run.title == "Probe of http://127.0.0.1:8000"


def test_a_var_reads_the_environment_and_the_inputs(project: Any) -> None:
    project.runbook("probe", RUNBOOK)
    run = project.run("probe", {"path": "/metrics"}, environ={"PROBE_URL": "http://wms01:8000"})
    assert _stdout(run) == "http://wms01:8000/metrics 4"


def test_a_var_that_cannot_be_rendered_names_itself(project: Any) -> None:
    project.runbook("probe", RUNBOOK.replace("tries: 3", "tries: '{{ nowhere }}'"))
    with pytest.raises(TemplateError, match="vars.tries: undefined: 'nowhere' is undefined"):
        project.run("probe", environ={})  # `runbook run` says it and exits 3 (UNKNOWN)
