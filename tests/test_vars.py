"""Runbook and check `vars:` that are templates: rendered once as the run starts, from
inputs, env, now and run (a production address from the environment, the demo's as the
default), and checked by `runbook validate`."""

from __future__ import annotations

import json

import pytest

from runner.base.errors import TemplateError
from runner.base.status import Status
from runner.cli.main import main

URL_VAR = """
runbook: t
inputs:
  path: {type: string, default: /health}
vars:
  base: "{{ env.EDI_URL | default('http://127.0.0.1:5000') }}"
  health: "{{ env.EDI_URL | default('http://127.0.0.1:5000') }}{{ inputs.path }}"
  limits: {warning: "{{ 40 + 2 }}", plain: 7}
steps:
  - id: a
    command: [echo, "{{ vars.base }} {{ vars.health }} {{ vars.limits.warning + 1 }} {{ vars.limits.plain }}"]
"""


def test_a_var_reads_the_environment_with_a_default(project):
    project.runbook("t", URL_VAR)
    run = project.run("t", environ={})
    assert run.status is Status.OK
    assert run.steps[0].values["stdout"] == (
        "http://127.0.0.1:5000 http://127.0.0.1:5000/health 43 7\n"
    )
    run = project.run("t", {"path": "/api/v1/status"}, environ={"EDI_URL": "http://edi:5000"})
    assert run.steps[0].values["stdout"] == "http://edi:5000 http://edi:5000/api/v1/status 43 7\n"


def test_a_var_that_cannot_be_rendered_makes_the_run_unknown_with_the_reason(
    project, monkeypatch, capsys
):
    project.runbook(
        "t",
        """
        runbook: t
        vars: {base: "{{ env.EDI_URL }}"}
        steps:
          - command: [echo, "{{ vars.base }}"]
        """,
    )
    with pytest.raises(TemplateError, match=r"runbooks/t.yaml: vars: undefined: no key 'EDI_URL'"):
        project.run("t", environ={})
    monkeypatch.delenv("EDI_URL", raising=False)
    assert main(["run", "t", "--format", "json"]) == 3  # UNKNOWN, the reason said
    assert "vars: undefined" in json.loads(capsys.readouterr().out)["error"]


def test_a_check_renders_its_own_vars_with_its_inputs(project):
    project.write(
        "checks/probe.yaml",
        """
        check: probe
        inputs:
          name: {type: string}
        vars: {greeting: "hello {{ inputs.name }}"}
        steps:
          - id: say
            command: [echo, "{{ vars.greeting }} {{ vars.base }}"]
        """,
    )
    project.config("state: var/runner.db\nvars: {base: \"{{ env.BASE | default('b') }}\"}\n")
    project.runbook(
        "t",
        """
        runbook: t
        steps:
          - id: c
            check: probe
            with: {name: edi}
        """,
    )
    run = project.run("t", environ={})
    assert run.steps[0].children[0].values["stdout"] == "hello edi b\n"


@pytest.mark.parametrize(
    "variables, expected",
    [
        (
            '{a: "{{ steps.x.value }}"}',
            "runbooks/t.yaml:3:7: error: vars: 'steps' cannot be read in vars: "
            "'{{ steps.x.value }}' (a var is rendered once as the run starts: it may read "
            "inputs, env, now and run)",
        ),
        (
            '{a: "{{ vars.b }}", b: 1}',
            "runbooks/t.yaml:3:7: error: vars: 'vars' cannot be read in vars: '{{ vars.b }}' "
            "(a var is rendered once as the run starts: it may read inputs, env, now and run)",
        ),
        (
            '{a: ["{{ inputs.nope }}"]}',
            "runbooks/t.yaml:3:7: error: vars: unknown input 'nope' in vars: "
            "'{{ inputs.nope }}' (declare it under `inputs:`)",
        ),
        (
            '{a: {b: "{{ env.X "}}',
            "runbooks/t.yaml:3:7: error: vars: template syntax error in '{{ env.X ': "
            "unexpected end of template, expected 'end of print statement'. (check the {{ }} pairs)",
        ),
    ],
    ids=["steps", "vars", "unknown-input", "syntax"],
)
def test_validate_names_what_a_var_cannot_read(project, capsys, variables, expected):
    project.runbook(
        "t", f"runbook: t\nkind: health-check\nvars: {variables}\nsteps:\n  - wait: 0s\n"
    )
    assert main(["validate", "runbooks/t.yaml"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == expected
