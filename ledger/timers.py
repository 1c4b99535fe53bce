"""Starting the timer worker (the `timers` worker kind): the runner itself is built by the bootstrap."""

from __future__ import annotations

from api.runtime import Runtime
from service.timers import TimerWorker


def start_timer_worker(runtime: Runtime) -> TimerWorker:
    """Fire due timers in a daemon thread of this process; stopped before the store closes."""
    worker = TimerWorker(runtime.timers, poll_seconds=runtime.timer_poll_seconds).start()
    runtime.on_shutdown.append(worker.stop)
    return worker
