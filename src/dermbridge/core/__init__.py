"""Project-wide infrastructure that no clinical app owns: idempotent requests, operations
(backup, restore, reconcile) and, as issue #11 lands, the worker, scheduler and shared checks."""
