"""Runs one command and reads what the kernel accounted for it: wall time, CPU, peak RSS.

The command runs under GNU time (/usr/bin/time, Debian's `time` package), which reports the
wait4(2) rusage of its child together with every descendant the child waited for. So a pipeline
run under one bash and a `backupnimbus run` that starts its own mongodump are measured the same
way: CPU is the sum over the process tree, peak RSS the largest single process in it.
GNU time is there for a reason: Linux carries a process's peak RSS over fork and exec, so a
command started straight from this (large) Python process would report at least this process's
RSS. Forked from the small `time` binary, it reports its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time"


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float
    """User plus system CPU seconds of the process tree."""
    peak_rss_kb: int
    """Largest resident set of any one process in the tree, in KiB."""


class CommandFailedError(RuntimeError):
    pass


def measure(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    timeout: float = 900,
) -> tuple[Sample, str]:
    """Runs `argv` to completion; returns its sample and its stdout. Raises on a non-zero exit."""
    if not os.access(GNU_TIME, os.X_OK):
        raise CommandFailedError(f"{GNU_TIME} is missing: install Debian's `time` package")
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".rusage") as rusage,
    ):
        start = time.perf_counter()
        process = subprocess.Popen(
            [GNU_TIME, "--quiet", "-f", "%U %S %M", "-o", rusage.name, *argv], env=dict(env),
            cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
        )  # fmt: skip
        timer = threading.Timer(timeout, _kill_group, args=(process.pid,))
        timer.start()
        try:
            process.wait()
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        if process.returncode != 0:
            tail = err.read().decode("utf-8", "replace")[-3000:]
            raise CommandFailedError(
                f"{' '.join(argv)[:300]} exited with {process.returncode}:\n{tail}{stdout[-1000:]}"
            )
        user, system, peak = rusage.read().split()[-3:]
    sample = Sample(wall_s=wall, cpu_s=float(user) + float(system), peak_rss_kb=int(peak))
    return sample, stdout


def shell(command: str) -> list[str]:
    """A pipeline under bash with pipefail, so a failing producer fails the measurement."""
    return ["/bin/bash", "-o", "pipefail", "-c", command]


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
