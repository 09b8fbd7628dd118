"""Progress: bytes and rate on a terminal, silence otherwise."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

from pymongo import MongoClient

from tests.conftest import run_cli
from tests.support.servers import Secantus, venv_script


def test_a_terminal_sees_bytes_and_rate(
    backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(2000))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*",
           "PATH": os.environ["PATH"], "TERM": "xterm"}  # fmt: skip
    command = shlex.join([venv_script("backupnimbus"), "run"])

    # `script` gives the command a pseudo-terminal, as an operator's shell would.
    completed = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout
    assert "upload" in completed.stdout
    assert "B/s" in completed.stdout


def test_without_a_terminal_stderr_holds_only_json_log_lines(
    backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(200))

    completed = run_cli(["run", "--json"], {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"})

    assert completed.returncode == 0, completed.stderr
    for line in completed.stderr.splitlines():
        assert isinstance(json.loads(line), dict), line
    assert "B/s" not in completed.stderr
