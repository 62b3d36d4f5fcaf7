"""`dermbridge worker`: the database task worker with a lease (see dermbridge.core.worker)."""

from dermbridge.core.worker import WorkerCommand


class Command(WorkerCommand):
    pass
