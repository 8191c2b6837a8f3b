"""When scheduled runbooks are due: the fire times of a cron schedule in a time zone
(`cron.py`) and the defaults of the schedule's policies, catch-up and grace
(`policy.py`). Pure computations on a clock handed in: nothing here runs anything.
"""

from runner.schedule.cron import CronSchedule, ScheduleError
from runner.schedule.policy import (
    CATCHUP_MODES,
    DEFAULT_CATCHUP,
    DEFAULT_CATCHUP_WINDOW,
    MIN_GRACE,
    default_grace,
)

__all__ = [
    "CATCHUP_MODES",
    "DEFAULT_CATCHUP",
    "DEFAULT_CATCHUP_WINDOW",
    "MIN_GRACE",
    "CronSchedule",
    "ScheduleError",
    "default_grace",
]
