"""History: environment branches, sync and task-run records in git notes, audit and rollback — git as the audit log."""
