"""What a person at a terminal sees: errors and logs as text, JSON for programs and pipes."""

from __future__ import annotations

import base64
import json

from tests.support.cli import run_cli
from tests.support.terminal import run_on_terminal

UNCONFIGURED: dict[str, str] = {}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


LOG_MAILER = {
    "NOTIFICATIONS_ENABLED": "true",
    "MAILER_BACKEND": "log",
    "NOTIFICATION_SENDER_EMAIL": _b64("backups@example.com"),
    "NOTIFICATION_RECIPIENTS": _b64("oncall@example.com"),
}


def test_an_error_on_a_terminal_reads_as_code_message_and_one_detail_per_line() -> None:
    seen = run_on_terminal(["run"], UNCONFIGURED)

    assert seen.returncode == 2
    assert seen.stdout == ""
    lines = [line for line in seen.lines if line.strip()]
    assert lines[:3] == [
        "Error [CONFIG_ERROR]: Invalid configuration",
        "  problems:",
        "    - MONGO_URI is required: a base64-encoded mongodb:// or mongodb+srv:// URI",
    ]
    assert lines[3].startswith("    - no store configured: set AWS_S3_BUCKET_NAME")
    assert not any(line.lstrip().startswith("{") for line in lines), seen.screen


def test_a_usage_error_on_a_terminal_shows_the_usage_once() -> None:
    seen = run_on_terminal(["list", "--no-such-option"], UNCONFIGURED)

    assert seen.returncode == 2
    text = seen.screen.replace("\r\n", "\n")
    assert "Error [CONFIG_ERROR]: Invalid configuration\n  problems:\n" in text
    assert "    - unrecognized arguments: --no-such-option\n" in text
    assert text.count("usage: backupnimbus list") == 1, text


def test_with_json_a_terminal_still_gets_one_json_document_on_stdout() -> None:
    seen = run_on_terminal(["run", "--json"], UNCONFIGURED)

    assert seen.returncode == 2
    assert json.loads(seen.stdout)["error"]["code"] == "CONFIG_ERROR"
    assert "Error [" not in seen.screen


def test_without_a_terminal_the_error_stays_the_json_document_on_stderr() -> None:
    completed = run_cli(["run"], UNCONFIGURED)

    assert completed.returncode == 2
    assert json.loads(completed.stderr)["error"]["code"] == "CONFIG_ERROR"


def test_logs_on_a_terminal_are_text_lines() -> None:
    seen = run_on_terminal(["notify", "--subject", "Weekly", "--message", "hello"], LOG_MAILER)

    assert seen.returncode == 0, seen.screen
    logged = [line for line in seen.lines if "e-mail not sent" in line]
    assert len(logged) == 1, seen.screen
    assert " INFO " in logged[0]
    assert "subject=Weekly" in logged[0]
    assert not logged[0].lstrip().startswith("{")


def test_log_format_json_keeps_json_lines_on_a_terminal() -> None:
    seen = run_on_terminal(
        ["notify", "--subject", "Weekly", "--message", "hello"],
        {**LOG_MAILER, "LOG_FORMAT": "json"},
    )

    assert seen.returncode == 0, seen.screen
    logged = [line for line in seen.lines if "e-mail not sent" in line]
    assert json.loads(logged[0])["subject"] == "Weekly"


def test_log_format_text_gives_text_lines_in_a_pipe_too() -> None:
    completed = run_cli(
        ["notify", "--subject", "Weekly", "--message", "hello"],
        {**LOG_MAILER, "LOG_FORMAT": "text"},
    )

    assert completed.returncode == 0, completed.stderr
    (logged,) = [line for line in completed.stderr.splitlines() if "e-mail not sent" in line]
    assert "subject=Weekly" in logged
    assert not logged.startswith("{")


def test_without_a_terminal_logs_are_json_lines() -> None:
    completed = run_cli(["notify", "--subject", "Weekly", "--message", "hello"], LOG_MAILER)

    assert completed.returncode == 0, completed.stderr
    (logged,) = [line for line in completed.stderr.splitlines() if "e-mail not sent" in line]
    assert json.loads(logged)["subject"] == "Weekly"


def test_a_bad_log_format_is_a_configuration_error_naming_the_variable() -> None:
    completed = run_cli(["run", "--json"], {"LOG_FORMAT": "yaml"})

    assert completed.returncode == 2
    problems = json.loads(completed.stdout)["error"]["details"]["problems"]
    assert "LOG_FORMAT must be json or text" in problems
