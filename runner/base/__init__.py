"""The ground floor: errors with exit codes, statuses, durations, masking of secrets,
did-you-mean, the clock, paths and the abort signal of a run. Imports nothing of runner."""
