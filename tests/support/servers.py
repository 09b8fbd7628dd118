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


def mongo_tools_dir() -> Path:
    configured = os.environ.get("MONGO_TOOLS_BIN")
    if configured:
        directory = Path(configured)
    else:
        built = subprocess.run(
            [str(REPO / "scripts" / "build-mongo-tools")], capture_output=True, text=True
        )
        if built.returncode != 0:
            pytest.fail(
                "the MongoDB Database Tools could not be built by scripts/build-mongo-tools:\n"
                + built.stderr[-2000:],
                pytrace=False,
            )
        directory = Path(built.stdout.strip().splitlines()[-1])
    for tool in ("mongodump", "mongorestore", "bsondump"):
        if not os.access(directory / tool, os.X_OK):
            pytest.fail(f"{tool} is missing from {directory}; run `make tools`", pytrace=False)
    return directory


@attrs.define
class Secantus:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_secantus(storage: Path, *extra: str) -> Secantus:
    port = free_port()
    log_path = storage.with_suffix(".log")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [venv_script("secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", str(storage), *extra],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Secantus(port=port, process=process, log_path=log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"SecantusDB exited with {process.returncode} while starting:\n"
                + log_path.read_text(errors="replace")[-2000:],
                pytrace=False,
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.stop()
    pytest.fail(f"SecantusDB did not listen on 127.0.0.1:{port} within 60 s", pytrace=False)


@attrs.define
class MotoProcess:
    endpoint: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_moto_process(log_path: Path) -> MotoProcess:
    """moto in server mode, in its own process, so its state is its own."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [venv_script("moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"moto_server exited with {process.returncode}:\n"
                + log_path.read_text(errors="replace")[-2000:],
                pytrace=False,
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return MotoProcess(endpoint=f"http://127.0.0.1:{port}", process=process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail(f"moto_server did not listen on 127.0.0.1:{port} within 60 s", pytrace=False)
