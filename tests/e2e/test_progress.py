"""Progress: bytes and rate on a terminal (percent and time left when the size is known),
silence otherwise; log lines never tear a bar."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator

import pytest
from pymongo import MongoClient

from backupnimbus.adapters.progress import ProgressReader, binary_size, progress_bar
from backupnimbus.entrypoints.logging import configure_logging
from backupnimbus.redaction import Redactor
from tests.support.cli import run_cli
from tests.support.servers import Secantus, venv_script
from tests.support.terminal import run_on_terminal


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


def test_a_download_of_known_size_shows_percent_time_left_and_binary_units(
    backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    client = MongoClient(secantus.uri)[database]
    client.things.insert_many({"n": n, "pad": "x" * 200} for n in range(5000))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"}
    stored = json.loads(run_cli(["run", "--json"], env).stdout)
    size = stored["size"]

    seen = run_on_terminal(["verify", "--latest"], env)

    assert seen.returncode == 0, seen.screen
    # The bar as drawn: label, percent, the total in the units `list` uses, the time left.
    assert re.search(r"download:\s+\d+%\|", seen.screen), seen.screen
    assert f"/ {binary_size(size)}" in seen.screen
    assert "ETA" in seen.screen
    assert " MB" not in seen.screen
    assert " kB" not in seen.screen


def test_a_restore_with_target_uri_shows_its_download(
    backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    client = MongoClient(secantus.uri)[database]
    client.things.insert_many({"n": n, "pad": "x" * 200} for n in range(5000))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"}
    stored = json.loads(run_cli(["run", "--json"], env).stdout)

    # --target-uri changes the configuration after it is loaded; the bar must survive that.
    seen = run_on_terminal(
        ["restore", "--latest", "--target-uri", secantus.uri,
         "--ns-from", f"{database}.*", "--ns-to", f"{database}_copy.*"],
        backup_env,
    )  # fmt: skip

    assert seen.returncode == 0, seen.screen
    assert re.search(r"download:\s+\d+%\|", seen.screen), seen.screen
    assert f"/ {binary_size(stored['size'])}" in seen.screen
    assert MongoClient(secantus.uri)[f"{database}_copy"].things.count_documents({}) == 5000


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_a_log_line_during_a_transfer_is_written_above_the_bar_not_through_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    configure_logging(level="INFO", redactor=Redactor(), log_format="text")

    with progress_bar(label="upload", out=screen) as bar:
        bar.update(3 * 1024 * 1024)
        bar.refresh()
        logging.getLogger("backupnimbus.test").info("part 1 uploaded")

    drawn = screen.getvalue()
    at = drawn.index("part 1 uploaded")
    line_start = drawn.rfind("\n", 0, at) + 1
    # What the terminal holds on that line before the log text: after the last carriage
    # return, nothing but the timestamp and level, i.e. the bar was cleared first.
    before = drawn[line_start:at].rsplit("\r", 1)[-1]
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO\s+", before), repr(drawn)
    # ...and drawn again below it, in binary units.
    assert "upload: 3.0 MiB" in drawn[at:]


def test_a_large_read_moves_the_bar_in_steps_and_returns_every_byte() -> None:
    data = os.urandom(8 * 1024 * 1024 + 5)
    steps: list[int] = []

    class Bar:
        def update(self, n: int) -> None:
            steps.append(n)

    reader = ProgressReader(io.BytesIO(data), Bar())

    assert reader.read(8 * 1024 * 1024) == data[: 8 * 1024 * 1024]
    assert steps == [1024 * 1024] * 8
    assert reader.read(8 * 1024 * 1024) == data[8 * 1024 * 1024 :]
    assert reader.read(8 * 1024 * 1024) == b""
