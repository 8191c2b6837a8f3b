"""When scheduled runbooks are due: the fire times of a cron schedule in a time zone
(`cron.py`), the defaults of the schedule's policies, catch-up and grace (`policy.py`),
and whether a runbook missed its slot (`lateness.py`). Pure computations on a clock
handed in: nothing here runs anything.

Import from the modules themselves: this package imports none of them, so `runbook
status`, whose due slots are cached, loads lateness.py without cron.py (and zoneinfo).
"""
