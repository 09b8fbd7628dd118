"""Runs the command line with stderr on a real pseudo-terminal, as an operator's shell does,
and returns what the person at that terminal saw."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
from collections.abc import Mapping
from pathlib import Path

import attrs

from tests.support.servers import venv_script

REPO = Path(__file__).resolve().parents[2]


@attrs.frozen
class Seen:
    returncode: int
    screen: str
    """Everything written to the terminal (stderr), with the terminal's \\r\\n line ends."""
    stdout: str
    """stdout, a pipe, as in `backupnimbus ... > result.json`."""

    @property
    def lines(self) -> list[str]:
        return self.screen.replace("\r\n", "\n").split("\n")


def run_on_terminal(
    args: list[str], env: Mapping[str, str], *, columns: int = 120, timeout: float = 120
) -> Seen:
    """Runs the installed `backupnimbus` with exactly `env` (plus PATH, HOME, TERM), importing
    this checkout's package, stderr on a pty of `columns` columns, stdout on a pipe."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    merged = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/"),
        "TERM": "xterm",
        **env,
        "PYTHONPATH": str(REPO),
    }
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: every writer closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        process = subprocess.Popen(
            [venv_script("backupnimbus"), *args],
            env=merged, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
        )  # fmt: skip
        os.close(follower)
        follower = -1
        stdout, _ = process.communicate(timeout=timeout)
        reader.join(timeout=10)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    return Seen(
        returncode=process.returncode,
        screen=b"".join(chunks).decode(errors="replace"),
        stdout=stdout.decode(),
    )
