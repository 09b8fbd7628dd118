"""Usage errors through the real console script: with --json, whatever went wrong, stdout holds
exactly one JSON document and nothing else; without it, the usage and the error go to stderr."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import REPO, run_cli
from tests.support.servers import venv_script

# One command line per command and kind of mistake: an option nobody defined, an option without
# its value, a value its type refuses.
MISTAKES = [
    ("run", ["--bogus"], "unrecognized arguments: --bogus"),
    ("run", ["--timestamp"], "argument --timestamp: expected one argument"),
    ("run", ["--timeout", "soon"], "not a positive number of seconds"),
    ("list", ["--bogus"], "unrecognized arguments: --bogus"),
    ("list", ["--name"], "argument --name: expected one argument"),
    ("list", ["--name", "../etc"], "invalid name '../etc'"),
    ("verify", ["--bogus", "--latest"], "unrecognized arguments: --bogus"),
    ("verify", ["--latest", "--name"], "argument --name: expected one argument"),
    ("verify", ["--latest", "--name", "a/b"], "invalid name 'a/b'"),
    ("restore", ["--latest", "--bogus"], "unrecognized arguments: --bogus"),
    ("restore", ["--latest", "--target-uri"], "argument --target-uri: expected one argument"),
    ("restore", ["--latest", "--name", ".."], "invalid name '..'"),
    ("prune", ["--bogus"], "unrecognized arguments: --bogus"),
    ("prune", ["--keep-daily"], "argument --keep-daily: expected one argument"),
    ("prune", ["--keep-daily", "-1"], "expected a whole number of 0 or more"),
    ("check", ["--bogus"], "unrecognized arguments: --bogus"),
    ("check", ["--timeout"], "argument --timeout: expected one argument"),
    ("check", ["--timeout", "soon"], "invalid float value: 'soon'"),
    ("notify", ["--subject", "s", "--message", "m", "--bogus"], "unrecognized arguments: --bogus"),
    ("notify", ["--subject", "s", "--message"], "argument --message: expected one argument"),
    ("notify", ["--subject", "s"], "the following arguments are required: --message"),
]


def only_document(stdout: str) -> dict[str, Any]:
    """stdout must be exactly one JSON document: json.loads refuses anything around it."""
    document: dict[str, Any] = json.loads(stdout)
    return document


@pytest.mark.parametrize(("command", "args", "complaint"), MISTAKES)
def test_with_json_a_usage_error_is_one_document_on_stdout(
    command: str, args: list[str], complaint: str
) -> None:
    completed = run_cli([command, *args, "--json"], {})

    assert completed.returncode == 2, completed.stdout + completed.stderr
    error = only_document(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    assert any(complaint in problem for problem in error["details"]["problems"]), error
    assert error["details"]["usage"].startswith(f"usage: backupnimbus {command}")
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(("command", "args", "complaint"), MISTAKES)
def test_without_json_a_usage_error_goes_to_stderr_with_the_usage(
    command: str, args: list[str], complaint: str
) -> None:
    completed = run_cli([command, *args], {})

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.startswith(f"usage: backupnimbus {command}")
    assert complaint in completed.stderr


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["backup", "--json"], "invalid choice: 'backup'"),
        (["--json"], "the following arguments are required: COMMAND"),
        (["--json", "list"], "unrecognized arguments: --json"),
        (["list", "--js"], None),  # argparse takes an unambiguous prefix for the option
    ],
)
def test_json_is_honoured_wherever_it_appears(args: list[str], complaint: str | None) -> None:
    completed = run_cli([*args, "--bogus"] if complaint is None else args, {})

    assert completed.returncode == 2
    error = only_document(completed.stdout)["error"]
    problems = " ".join(error["details"]["problems"])
    assert (complaint or "unrecognized arguments: --bogus") in problems


def test_json_after_a_double_dash_is_an_argument_not_the_option() -> None:
    completed = run_cli(["verify", "--latest", "--", "--json"], {})

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert "not allowed with argument" in completed.stderr


def test_help_with_json_is_one_document_too() -> None:
    completed = run_cli(["prune", "--help", "--json"], {})

    assert completed.returncode == 0
    document = only_document(completed.stdout)
    assert document["help"].startswith("usage: backupnimbus prune")
    assert "--keep-daily" in document["help"]


def test_a_restore_with_no_target_and_contradicting_flags_names_every_problem_at_once(
    tmp_path: Path,
) -> None:
    env = {"STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path)}

    completed = run_cli(
        ["restore", "--latest", "--oplog-replay", "--ns-include", "a.*", "--json"], env
    )

    assert completed.returncode == 2, completed.stderr
    problems = " | ".join(only_document(completed.stdout)["error"]["details"]["problems"])
    assert "no restore target" in problems
    assert "--oplog-replay" in problems, problems
    assert "--ns-include" in problems, problems


@pytest.mark.parametrize("flags", [[], ["--json"]])
def test_a_reader_that_stops_early_gets_no_traceback(flags: list[str]) -> None:
    # `backupnimbus plugins | head -0`: the pipe is closed before the command prints.
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [venv_script("backupnimbus"), "plugins", *flags], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)

    assert b"Traceback" not in stderr, stderr.decode()
    assert b"BrokenPipeError" not in stderr, stderr.decode()
    assert process.returncode == 0, stderr.decode()
