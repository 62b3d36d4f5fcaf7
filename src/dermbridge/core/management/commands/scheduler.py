"""`dermbridge scheduler`: queue the periodic tasks (see dermbridge.core.scheduler)."""

from dermbridge.core.scheduler import SchedulerCommand


class Command(SchedulerCommand):
    pass
