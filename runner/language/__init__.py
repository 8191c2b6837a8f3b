"""The runbook language: YAML with line marks, the JSON Schemas, the typed model built in
one pass, the checks of meaning, templates, inputs, runner.yaml and the library of
runbooks. Loading a runbook never connects to anything."""
