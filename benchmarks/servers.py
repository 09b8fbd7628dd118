"""The servers the benchmark talks to, each a subprocess on a free 127.0.0.1 port.

moto runs as its own process (the `moto_server` script) rather than a thread of the benchmark,
so its CPU is never billed to either side and both sides share one server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Moto:
    endpoint: str
    pid: int

    def cpu_seconds(self) -> float:
        """User plus system CPU the server has used so far (from /proc), to show its share."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def moto_server(bin_dir: Path, log_path: Path) -> Iterator[Moto]:
    """Yields a fresh moto server."""
    port = free_port()
    argv = [str(bin_dir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with _process(argv, log_path) as process:
        _wait_for(process, port, log_path)
        yield Moto(endpoint=f"http://127.0.0.1:{port}", pid=process.pid)


def reset_moto(endpoint: str) -> None:
    """Drops every bucket and object, so a scenario never pays for the last one's leftovers."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        response.read()


@contextlib.contextmanager
def secantus_server(bin_dir: Path, storage: Path, log_path: Path) -> Iterator[str]:
    """Yields the mongodb:// URI of a SecantusDB server storing under `storage`."""
    port = free_port()
    argv = [str(bin_dir / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", str(storage)]  # fmt: skip
    with _process(argv, log_path) as process:
        _wait_for(process, port, log_path)
        yield f"mongodb://127.0.0.1:{port}/"


@contextlib.contextmanager
def _process(argv: list[str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(
    process: subprocess.Popen[bytes], port: int, log_path: Path, *, within: float = 60
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"{log_path.stem} server did not listen on 127.0.0.1:{port}:\n{tail}")
