"""aws-lambda-rie (the AWS Lambda Runtime Interface Emulator) running a Lambda runtime on free
loopback ports: shared by the Lambda entry-script and drill tests."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import REPO, free_port

ENTRYPOINT = REPO / "docker" / "entrypoint"
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
# The venv's interpreter first on PATH, as the image puts its virtualenv first: the entry script
# runs `python3` from PATH.
PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


class Emulator:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def invoke(self, event: Any) -> dict[str, Any]:
        # Always the emulator's http:// loopback URL built above, never user input.
        request = urllib.request.Request(  # noqa: S310
            self.url + INVOKE_PATH, data=json.dumps(event).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
            assert response.status == 200, self.output()
            document: dict[str, Any] = json.loads(response.read())
        return document

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def emulator(
    rie: Path, env: Mapping[str, str], bootstrap: list[str], tmp_path: Path
) -> Iterator[Emulator]:
    """aws-lambda-rie on free loopback ports, running `bootstrap` as the Lambda runtime."""
    port, api_port = free_port(), free_port()
    log = tmp_path / f"rie-{port}.log"
    # Inside Lambda the runtime, not the user, sets the reserved variables, in plain text.
    lambda_env = {
        **env,
        "PATH": PATH,
        "HOME": os.environ.get("HOME", "/root"),
        "AWS_LAMBDA_FUNCTION_NAME": "backupnimbus",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "300",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(rie), "--runtime-interface-emulator-address", f"127.0.0.1:{port}",
             "--runtime-api-address", f"127.0.0.1:{api_port}", *bootstrap],
            env=lambda_env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    running = Emulator(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"aws-lambda-rie exited:\n{running.output()[-2000:]}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("aws-lambda-rie did not listen within 30 s", pytrace=False)
                time.sleep(0.1)
        yield running
    finally:
        # The emulator and the runtime it started share this session; end both.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
