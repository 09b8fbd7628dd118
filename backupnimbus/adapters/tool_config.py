"""Starts a MongoDB tool with a connection string it alone can read, and nothing else of ours.

The URI, password included, is never in argv (where `ps` shows it), never in a file (where it
would outlive a killed process) and never in the environment (where /proc shows it): the tool
reads its `--config` from an inherited pipe, `/dev/fd/N`, which is empty once read and gone
when the last process holding it ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

# What a Go tool needs to run, find CA certificates and print times; nothing of ours (AWS_*,
# MONGO_URI, AGE_*, NOTIFICATION_*, RESTORE_*) reaches it.
_INHERITED = ("PATH", "HOME", "LANG", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR")
_PR_SET_PDEATHSIG = 1
# The running interpreter's own symbols, libc's prctl among them (Linux: no library lookup).
_LIBC = ctypes.CDLL(None, use_errno=True)


@attrs.frozen
class ToolConfig:
    """The read end of a pipe holding the tool's YAML configuration."""

    fd: int

    @property
    def argument(self) -> str:
        return f"--config=/dev/fd/{self.fd}"


@contextlib.contextmanager
def private_config(uri: str) -> Iterator[ToolConfig]:
    """A pipe the tool reads its configuration from; the parent's ends are closed on exit.

    One per process started: the tool reads the pipe to its end, so a retry needs a new one.
    """
    read_end, write_end = os.pipe()
    try:
        # JSON string syntax is valid YAML and escapes whatever the URI holds. A URI is far
        # below the pipe's buffer (64 KiB), so the write never waits for the reader; closing
        # the write end lets the tool's read stop at the end of the document.
        with os.fdopen(write_end, "w") as handle:
            handle.write(f"uri: {json.dumps(uri)}\n")
        yield ToolConfig(read_end)
    finally:
        os.close(read_end)


def tool_environment() -> dict[str, str]:
    return {name: os.environ[name] for name in _INHERITED if name in os.environ}


def start_tool(argv: Sequence[str], config: ToolConfig, **popen: Any) -> subprocess.Popen[Any]:
    """Popen with the config pipe passed down, a minimal environment, and death with the parent.

    PR_SET_PDEATHSIG fires when the *thread* that forked the tool ends, not the process: the CLI
    calls this from its main thread, so the tool dies with the process (a SIGKILL included).
    Called from a worker thread, the tool would be killed when that thread ends.
    """
    return subprocess.Popen(
        list(argv),
        pass_fds=(config.fd,),
        env=tool_environment(),
        preexec_fn=_die_with_parent(os.getpid()),
        # Its own process group, so that `kill_tool` also ends what a MONGODUMP_PATH wrapper
        # script started: such a child holds the tool's stdout open after the script is gone.
        start_new_session=True,
        **popen,
    )


def run_tool(argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs a tool that needs no configuration (`--version`) to its end, with the minimal
    environment, in its own process group: on TimeoutExpired, all of it has been killed."""
    with subprocess.Popen(
        list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=tool_environment(), start_new_session=True,
    ) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_tool(process)
            process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_tool(process: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Sends `sig` to a tool started by `start_tool` and to everything in its process group,
    unless it has already been reaped (its group id might then name another process's)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def _die_with_parent(parent: int) -> Any:
    def in_child() -> None:
        # Runs between fork and exec: no allocation-heavy work, no locks.
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            # The parent died before prctl took effect: no signal will ever come.
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child
