"""Real test servers on 127.0.0.1: SecantusDB as a subprocess, moto in server mode."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_script(name: str) -> str:
    """A console script installed beside the running interpreter (the test venv's bin)."""
    path = Path(sys.executable).with_name(name)
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; run `make test`, which installs it", pytrace=False)
    return found


def built_path(variable: str, script: str) -> Path:
    """The path in `variable` (set by `make test`), else what `scripts/<script>` builds and
    prints; a build that fails fails the run with its stderr, never a skip."""
    configured = os.environ.get(variable)
    if configured:
        return Path(configured)
    built = subprocess.run([str(REPO / "scripts" / script)], capture_output=True, text=True)
    if built.returncode != 0:
        pytest.fail(f"scripts/{script} failed:\n{built.stderr[-2000:]}", pytrace=False)
    return Path(built.stdout.strip().splitlines()[-1])


def mongo_tools_dir() -> Path:
    directory = built_path("MONGO_TOOLS_BIN", "build-mongo-tools")
    for tool in ("mongodump", "mongorestore", "bsondump"):
        if not os.access(directory / tool, os.X_OK):
            pytest.fail(f"{tool} is missing from {directory}; run `make tools`", pytrace=False)
    return directory


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_listening(
    name: str, argv: list[str], port: int, log_path: Path
) -> subprocess.Popen[bytes]:
    """Starts a server and waits until it accepts connections; fails the run, naming why."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"{name} exited with {process.returncode} while starting:\n"
                + log_path.read_text(errors="replace")[-2000:],
                pytrace=False,
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.2)
    stop_process(process)
    pytest.fail(f"{name} did not listen on 127.0.0.1:{port} within 60 s", pytrace=False)


@attrs.define
class Secantus:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        stop_process(self.process)


def start_secantus(storage: Path, *extra: str) -> Secantus:
    port = free_port()
    log_path = storage.with_suffix(".log")
    argv = [venv_script("secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", str(storage), *extra]  # fmt: skip
    process = start_listening("SecantusDB", argv, port, log_path)
    return Secantus(port=port, process=process, log_path=log_path)


@attrs.define
class MotoProcess:
    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.process)


def start_moto_process(log_path: Path) -> MotoProcess:
    """moto in server mode, in its own process, so its state is its own."""
    port = free_port()
    argv = [venv_script("moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    process = start_listening("moto_server", argv, port, log_path)
    return MotoProcess(endpoint=f"http://127.0.0.1:{port}", process=process)
