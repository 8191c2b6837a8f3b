"""The run service: one runbook run end to end (runs.py), for the CLI, scheduler and web."""
