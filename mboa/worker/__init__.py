"""Background work on BullMQ, fed by a PostgreSQL outbox.

- Declare: `@task("domain.verb", queue=…, attempts=…, cron=…)` in a domain's `tasks.py`, listed
  in `mboa.tasks.TASK_MODULES` (loaded by the worker and the scheduler at start).
- Enqueue: `await enqueue(session, "domain.verb", {"id": …})` writes an outbox row (the task's
  name, not its queue) in the caller's transaction. Nothing reaches Redis unless that transaction
  commits.
- Relay: every worker process moves committed outbox rows to BullMQ (LISTEN/NOTIFY wakes it; it
  also polls), with the queue and options the task registry gives. A row is marked relayed only
  after BullMQ accepted the job, and the BullMQ job id is fixed by the row, so a relay that
  crashes half-way cannot lose or duplicate a job.
- Run: `mboa worker` runs one bullmq.Worker per queue; handlers are idempotent and take ids only.
"""

from mboa.worker._registry import REGISTRY, Defer, Task, TaskContext, task
from mboa.worker.outbox import enqueue, enqueue_many

__all__ = ["REGISTRY", "Defer", "Task", "TaskContext", "enqueue", "enqueue_many", "task"]
