"""`dermbridge worker`: the database task worker with a lease (see dermbridge.worker)."""

from dermbridge.worker import WorkerCommand


class Command(WorkerCommand):
    pass
