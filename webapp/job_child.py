"""One evaluation job in a process of its own, started by the worker (webapp.job_runner) for each job.

The worker can then stop a job that runs past its time limit, or one it lost to another worker, by
killing this process: no Python thread can be stopped from outside, and a hostile artifact can keep a
thread busy for ever without a single progress report. The process also gives the memory back when
the job ends.

Protocol: argv is `MESSAGE_FD PARENT_PID`; stdin holds the EvaluationRequest as JSON; every message
(evaluator.service's PlanMessage, ProgressMessage, then DoneMessage or FailedMessage) is one JSON line on
MESSAGE_FD. Nothing here touches the database: the worker does that.

SIGINT and SIGTERM arrive blocked (the worker starts this process with them masked, and the mask is
inherited for its whole life): Ctrl-C or a service manager signals the whole process group, but what
happens to a job (given back to the queue) is the worker's decision, and the worker kills this process.
"""
from __future__ import annotations

import base64
import ctypes
import os
import signal
import sys
import traceback

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the worker that started it dies (kill -9 included): an orphaned job
    would otherwise run on, unowned, for as long as its artifact makes it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the worker died before the request above took effect
        os._exit(1)


def main(argv: list[str]) -> int:
    fd, parent_pid = int(argv[0]), int(argv[1])
    _die_with_parent(parent_pid)
    # imported after the parent check: the service's evaluation loads torch
    from evaluator.service import (DoneMessage, EvaluationRequest, FailedMessage, PgolfError, encode_message,
                                   failure, run_evaluation)

    with os.fdopen(fd, "w", encoding="utf-8") as channel:
        def send(message) -> None:
            channel.write(encode_message(message))
            channel.flush()

        request = EvaluationRequest.from_json(sys.stdin.read())
        try:
            result, plots = run_evaluation(request, send)
        except Exception as exc:  # any failure is the job's result, shown on its page
            if not isinstance(exc, (PgolfError, MemoryError)):
                traceback.print_exc()
            send(FailedMessage(failure(exc, request)))
            return 1
        send(DoneMessage(result.to_dict(), {name: base64.b64encode(png).decode() for name, png in plots.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
