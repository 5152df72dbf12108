"""Run one command and write its own rusage (CPU, peak RSS) and wall time as JSON.

    python -S bench/spawn.py RESULT.json -- COMMAND [ARGS...]

Why a shim: on Linux a process's peak RSS (``ru_maxrss``) survives ``exec`` and
starts from the RSS of whatever forked it, so a command started straight from
the (large) harness would report the harness's memory. Started from this small
process it reports its own. SIGINT, SIGTERM and SIGHUP are passed on to the
command; SIGUSR1 becomes SIGKILL for it (a SIGKILL cannot be passed on). The
exit code is the command's (128 + N when a signal N ended it).

Standard library only, and run with ``-S``, so it stays small and starts fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: spawn.py RESULT.json -- COMMAND [ARGS...]\n")
        return 2
    result_path, command = argv[0], argv[2:]
    child = 0
    pending: list[int] = []

    def forward(signum: int, frame: object) -> None:
        if not child:
            pending.append(signum)
            return
        sent: int = signal.SIGKILL if signum == signal.SIGUSR1 else signum
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, sent)

    for forwarded in FORWARDED:
        signal.signal(forwarded, forward)
    started = time.monotonic()
    t0 = time.perf_counter()
    child = os.fork()
    if child == 0:  # exec resets the handlers above to their defaults
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            os.write(2, f"spawn.py: cannot run {command[0]}: {exc}\n".encode())
        os._exit(127)
    for early in pending:
        forward(early, None)
    _, status, usage = os.wait4(child, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump(
            {
                "pid": child,
                "started_monotonic": started,
                "wall": wall,
                "user": usage.ru_utime,
                "system": usage.ru_stime,
                "max_rss_kb": usage.ru_maxrss,
                "exit_code": code,
            },
            fh,
        )
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
