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
    with pytest.raises(
        TemplateError, match=r"^runbooks/t.yaml:2:14: vars.base: undefined: no key 'EDI_URL'"
    ):
        project.run("t", environ={})
    monkeypatch.delenv("EDI_URL", raising=False)
    assert main(["run", "t", "--format", "json"]) == 3  # UNKNOWN, the reason said
    assert "vars.base: undefined" in json.loads(capsys.readouterr().out)["error"]


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


def test_a_check_var_that_cannot_be_rendered_is_named_with_its_line(project):
    project.write(
        "checks/probe.yaml",
        """
        check: probe
        vars: {where: "{{ env.PROBE_URL }}"}
        steps:
          - command: [echo, "{{ vars.where }}"]
        """,
    )
    project.runbook("t", "runbook: t\nsteps:\n  - id: c\n    check: probe\n")
    run = project.run("t", environ={})
    assert "checks/probe.yaml:2:15: vars.where: undefined: no key 'PROBE_URL'" in str(
        run.steps[0].error
    )


@pytest.mark.parametrize(
    "variables, expected",
    [
        (
            '{a: "{{ steps.x.value }}"}',
            "runbooks/t.yaml:3:11: error: vars.a: 'steps' cannot be read in vars: "
            "'{{ steps.x.value }}' (a var is rendered once as the run starts: it may read "
            "inputs, env, now and run)",
        ),
        (
            '{a: "{{ vars.b }}", b: 1}',
            "runbooks/t.yaml:3:11: error: vars.a: 'vars' cannot be read in vars: '{{ vars.b }}' "
            "(a var is rendered once as the run starts: it may read inputs, env, now and run)",
        ),
        (
            '{a: ["{{ inputs.nope }}"]}',
            "runbooks/t.yaml:3:11: error: vars.a: unknown input 'nope' in vars: "
            "'{{ inputs.nope }}' (declare it under `inputs:`)",
        ),
        (
            '{a: {b: "{{ env.X "}}',
            "runbooks/t.yaml:3:11: error: vars.a: template syntax error in '{{ env.X ': "
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


# --- runner.yaml's vars: checked by validate, and a failure names the var and its line ---

CONFIG = """
state: var/runner.db
vars:
  plain: 7
  base: "{{ env.NOPE_URL }}"
"""
RUNBOOK = """
runbook: t
vars:
  own: "{{ env.OWN | default('o') }}"
  plain: 8
steps:
  - command: [echo, "{{ vars.plain }}"]
"""


def test_a_runner_yaml_var_that_cannot_be_rendered_is_blamed_on_runner_yaml(project):
    project.config(CONFIG)
    project.runbook("t", RUNBOOK)
    with pytest.raises(
        TemplateError, match=r"/runner.yaml:4:9: vars.base: undefined: no key 'NOPE_URL'"
    ):
        project.run("t", environ={})
    run = project.run("t", environ={"NOPE_URL": "http://x"})
    assert run.steps[0].values["stdout"] == "8\n"  # the runbook's own var wins


@pytest.mark.parametrize(
    "variables, expected",
    [
        (
            '{base: "{{ steps.first.value }}"}',
            "runner.yaml:2:14: error: vars.base: 'steps' cannot be read in vars: "
            "'{{ steps.first.value }}' (a var is rendered once as the run starts: it may read "
            "inputs, env, now and run)",
        ),
        (
            '{base: ["{{ env.X "]}',
            "runner.yaml:2:14: error: vars.base: template syntax error in '{{ env.X ': "
            "unexpected end of template, expected 'end of print statement'. (check the {{ }} pairs)",
        ),
    ],
    ids=["steps", "syntax"],
)
def test_validate_checks_runner_yaml_vars_as_a_runbooks(project, capsys, variables, expected):
    project.config(f"state: var/runner.db\nvars: {variables}\n")
    project.runbook("t", RUNBOOK)
    assert main(["validate"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == expected
    assert main(["run", "t"]) == 3  # refused before anything runs, for the same reason
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .startswith("t: UNKNOWN - invalid: runner.yaml:2:14:")
    )
