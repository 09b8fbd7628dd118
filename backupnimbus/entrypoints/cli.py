"""The `backupnimbus` command line: parses, runs one command, renders its document or error."""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from backupnimbus import __version__
from backupnimbus.entrypoints.bootstrap import Session
from backupnimbus.errors import BackupNimbusError, DeadlineExceededError, UsageInvalidError
from backupnimbus.redaction import Redactor

log = logging.getLogger("backupnimbus.cli")

# Imported lazily by name so that `backupnimbus run` never pays for the others' imports.
COMMANDS = ("run", "prune", "notify", "list", "verify", "restore", "drill", "check", "plugins")


# Whether the command line asks for --json, known before argparse has understood it: a usage
# error must honour the option even when parsing failed.
_json_wanted: contextvars.ContextVar[bool] = contextvars.ContextVar("json_wanted", default=False)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    token = _json_wanted.set(_asks_for_json(argv))
    try:
        args, extra = _parser().parse_known_args(argv)
        if extra:
            # Said by the command's own parser, so that its usage is the one shown.
            args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    finally:
        _json_wanted.reset(token)
    as_json = getattr(args, "json", False)
    command: Callable[[argparse.Namespace, Session], dict[str, Any]] = args.command
    session = Session.for_terminal()
    try:
        return _run(command, args, session, as_json=as_json)
    finally:
        session.close()


def _run(
    command: Callable[[argparse.Namespace, Session], dict[str, Any]],
    args: argparse.Namespace,
    session: Session,
    *,
    as_json: bool,
) -> int:
    # Whatever a command returns or raises passes the same redactor as the logs, with the
    # configured secrets, before it is printed: the last line of defence.
    try:
        with _sigterm_interrupts():
            document = command(args, session)
    except BackupNimbusError as error:
        return fail(error, as_json=as_json, redactor=session.redactor)
    except KeyboardInterrupt:
        return fail(BackupNimbusError("Interrupted"), as_json=as_json, redactor=session.redactor)
    except Exception as error:  # the last line of defence: users never see a traceback
        log.debug("unexpected failure", exc_info=True)
        wrapped = BackupNimbusError(
            f"Unexpected failure: {type(error).__name__}", details={"type": type(error).__name__}
        )
        return fail(wrapped, as_json=as_json, redactor=session.redactor)
    document = session.redactor.redact_document(document)
    _emit(json.dumps(document, sort_keys=True) if as_json else args.render(document))
    return int(document.get("exit_code", 0))


def _emit(text: str, *, file: TextIO | None = None) -> None:
    """Prints `text`. A reader that went away (`| head`) has what it wanted: the command's
    outcome and exit code stand, and no traceback is printed for the closed pipe."""
    stream = file or sys.stdout
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        # Python would try again to flush at exit and complain; the stream points nowhere now.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Turns SIGTERM (docker stop, systemd, Kubernetes) into a TIMEOUT while a command runs:
    by default it ends Python without unwinding, leaving a multipart upload open. Raised in the
    main thread, it unwinds like a deadline: the dump stops, the upload is aborted, the failure
    is mailed, and the exit code is 1."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # Once only: a second SIGTERM must not cut short the abort and the mail the first started.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise DeadlineExceededError(
        "Stopped by SIGTERM before it finished", details={"signal": "SIGTERM"}
    )


def fail(error: BackupNimbusError, *, as_json: bool, redactor: Redactor | None = None) -> int:
    """Prints the error (stdout with --json, else stderr); returns the exit code.

    A person at a terminal reads `Error [CODE]: message` and the details one per line; --json
    and anything that is not a terminal (a pipe, a log collector) get the JSON document.
    `redactor`: the command's, once its configuration is loaded; else URI passwords only."""
    document = (redactor or Redactor()).redact_document(error.to_document())
    if as_json:
        _emit(json.dumps(document, sort_keys=True))
    elif sys.stderr.isatty():
        _emit(error_text(document["error"]), file=sys.stderr)
    else:
        _emit(json.dumps(document, sort_keys=True), file=sys.stderr)
    return error.exit_code


def error_text(error: dict[str, Any]) -> str:
    """The error document's `error` member as lines for a person."""
    details = dict(error.get("details") or {})
    usage = details.pop("usage", None)
    message = str(error["message"])
    problems = details.get("problems")
    if isinstance(problems, list) and problems:
        # The message repeats the problems on one line; here they follow one per line.
        message = message.removesuffix(": " + "; ".join(map(str, problems)))
    lines = [f"Error [{error['code']}]: {message}"]
    for name, value in details.items():
        if isinstance(value, list) and value:
            lines.append(f"  {name}:")
            lines.extend(f"    - {_plain(item)}" for item in value)
        else:
            lines.append(f"  {name}: {_plain(value)}")
    if usage:
        lines.append(str(usage))
    return "\n".join(lines)


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _asks_for_json(argv: Sequence[str]) -> bool:
    """--json anywhere before a `--`, or a prefix of it argparse would accept (--js)."""
    for arg in argv:
        if arg == "--":
            return False
        if len(arg) > 3 and "--json".startswith(arg):
            return True
    return False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        usage = self.format_usage().strip()
        as_json = _json_wanted.get()
        if not as_json and not sys.stderr.isatty():
            # On a terminal the usage closes the error's text instead.
            print(usage, file=sys.stderr)
        error = UsageInvalidError([message])
        error.details["usage"] = usage
        raise SystemExit(fail(error, as_json=as_json))

    def _print_message(self, message: str, file: Any = None) -> None:
        # --help and --version: with --json, one document rather than free text.
        if message and _json_wanted.get() and file in (None, sys.stdout):
            key = "help" if message.startswith("usage:") else "version"
            print(json.dumps({key: message.strip()}, sort_keys=True))
            return
        super()._print_message(message, file)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="backupnimbus", description="MongoDB backups into S3.")
    parser.add_argument("--version", action="version", version=f"backupnimbus {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"backupnimbus.entrypoints.commands.{name}").register(commands)
    for command in commands.choices.values():
        command.set_defaults(parser=command)
    return parser
