"""Walking a runbook's steps: when, confirm, retry, until, for_each, transaction,
on_error, on_failure and finally, and the evaluation of thresholds and asserts."""
