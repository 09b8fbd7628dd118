"""ArchiveRestorer on the real `mongorestore --archive`, fed through its stdin."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Collection
from typing import IO

from backupnimbus.adapters.tool_config import kill_tool, private_config, start_tool
from backupnimbus.domain.archive import PreludeEntry, read_prelude
from backupnimbus.errors import RestoreFailedError, VerificationFailedError
from backupnimbus.ports.archive_restorer import RestoreOptions, RestoreReport
from backupnimbus.ports.object_store import Readable
from backupnimbus.redaction import Redactor

log = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_STDERR_TAIL_LINES = 40
_FINISHED = re.compile(
    r"finished restoring (?P<ns>.+) \((?P<count>\d+) documents?, \d+ failures?\)"
)
_SUMMARY = re.compile(
    r"\d+ document\(s\) restored successfully\. (?P<failed>\d+) document\(s\) failed"
)
# Printed with -v only: what a dry run would restore, under its source and target names.
_PLANNED = re.compile(r"found collection (?P<source>.+) bson to restore to (?P<target>.+)$")


class MongorestoreRestorer:
    def __init__(
        self, *, executable: str, uri: str, redactor: Redactor, dump_executable: str | None = None
    ) -> None:
        """Args: dump_executable: the mongodump that lists the target's namespaces (default:
        the one beside `executable`)."""
        self._executable = executable
        self._dump_executable = dump_executable or os.path.join(
            os.path.dirname(executable), "mongodump"
        )
        self._uri = uri
        self._redactor = redactor.with_secrets([uri, _password(uri)])
        self._hosts = target_hosts(uri)

    def restore(
        self, *, stream: Readable, compressed: bool, options: RestoreOptions
    ) -> RestoreReport:
        argv = [self._executable, "--archive"]
        argv += restore_arguments(compressed=compressed, options=options)
        with private_config(self._uri) as config:
            argv.insert(1, config.argument)
            try:
                process = start_tool(
                    argv, config,
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )  # fmt: skip
            except OSError as exc:
                raise RestoreFailedError(
                    f"Cannot run mongorestore at '{self._executable}': {exc.__class__.__name__}. "
                    "Install the MongoDB Database Tools or set MONGORESTORE_PATH.",
                    details={"executable": self._executable},
                ) from exc
        output = _Output(process, self._redactor)
        try:
            _feed(stream, process)
        except BaseException:
            # Stopped before stdin closes, so mongorestore never sees a complete archive.
            _stop(process)
            raise
        finally:
            output.join()
        if process.returncode != 0:
            raise RestoreFailedError(
                f"mongorestore failed with exit code {process.returncode}{output.last_words()}",
                details={**output.details(), "target_hosts": list(self._hosts)},
            )
        return RestoreReport(
            target_hosts=self._hosts,
            restored=dict(output.restored),
            failures=output.failures,
            planned=dict(output.planned),
        )

    def existing(self, namespaces: Collection[str]) -> tuple[str, ...]:
        """Of `namespaces`, those the target already holds, as mongodump lists them.

        mongodump announces every collection of a database in the archive's prelude, before
        any data: only the prelude is read, then it is stopped. It only reads, and the pipe it
        writes to holds little more than the prelude, so it reads little of the data.
        """
        found: set[str] = set()
        for database in sorted({namespace.partition(".")[0] for namespace in namespaces}):
            found.update(entry.namespace for entry in self._prelude(database))
        return tuple(sorted(found & set(namespaces)))

    def _prelude(self, database: str) -> tuple[PreludeEntry, ...]:
        with private_config(self._uri) as config, tempfile.TemporaryFile() as stderr:
            # mongodump has no --nsInclude: it selects a database, and lists all of it.
            argv = [self._dump_executable, config.argument, "--archive", f"--db={database}"]
            try:
                process = start_tool(
                    argv, config,
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, bufsize=0,
                )  # fmt: skip
            except OSError as exc:
                raise RestoreFailedError(
                    f"Cannot run mongodump at '{self._dump_executable}' to list the target's "
                    f"namespaces: {exc.__class__.__name__}",
                    details={"executable": self._dump_executable},
                ) from exc
            assert process.stdout is not None
            try:
                return read_prelude(process.stdout)
            except VerificationFailedError:
                _stop(process)
                stderr.seek(0)
                lines = self._redactor.redact(stderr.read().decode("utf-8", "replace")).splitlines()
                last = f": {lines[-1].split(chr(9), 1)[-1]}" if lines else ""
                raise RestoreFailedError(
                    f"Cannot list the collections of database {database!r} in the target{last}",
                    details={"stderr_tail": lines[-_STDERR_TAIL_LINES:],
                             "target_hosts": list(self._hosts)},
                ) from None  # fmt: skip
            finally:
                _stop(process)
                process.stdout.close()


def restore_arguments(*, compressed: bool, options: RestoreOptions) -> list[str]:
    args = ["--gzip"] if compressed else []
    includes = list(options.ns_include)
    rename = options.rename
    if not includes and rename is not None:
        # Without it, mongorestore restores every namespace the rename does not match under
        # its own name, the live one: a rename must restore only what it renames.
        includes = [_source_pattern(rename.ns_from)]
    args += [f"--nsInclude={pattern}" for pattern in includes]
    if rename is not None:
        args += [f"--nsFrom={rename.ns_from}", f"--nsTo={rename.ns_to}"]
    if options.drop:
        args.append("--drop")
    if options.oplog_replay:
        args.append("--oplogReplay")
    if options.dry_run:
        # -v makes a dry run name each collection it would restore; without it, it says nothing.
        args += ["--dryRun", "-v"]
    return args


def _source_pattern(ns_from: str) -> str:
    """The --nsInclude pattern matching what the --nsFrom pattern matches."""
    if "$" not in ns_from:
        return ns_from  # the same `*` syntax, with the same escapes
    # The $variable$ syntax: everything between variables is literal.
    return "*".join(_escape(part) for part in re.split(r"\$[^$]*\$", ns_from))


def _escape(literal: str) -> str:
    """A namespace pattern matching exactly `literal`."""
    return literal.replace("\\", "\\\\").replace("*", "\\*")


def target_hosts(uri: str) -> tuple[str, ...]:
    """host[:port] of each seed in a mongodb:// or mongodb+srv:// URI, credentials left out."""
    authority = uri.split("://", 1)[-1].partition("/")[0].partition("?")[0]
    return tuple(authority.rpartition("@")[2].split(","))


def _password(uri: str) -> str:
    userinfo, at, _ = uri.split("://", 1)[-1].partition("/")[0].rpartition("@")
    return userinfo.partition(":")[2] if at else ""


def _feed(stream: Readable, process: subprocess.Popen[bytes]) -> None:
    stdin = process.stdin
    assert stdin is not None
    # stdin is closed only here, on the normal path: after a failed read the caller kills
    # mongorestore first, so that it never takes a truncated archive for a complete one.
    while chunk := stream.read(_CHUNK):
        try:
            stdin.write(chunk)
        except BrokenPipeError:
            # mongorestore stopped reading: a dry run needs only the prelude, and a failed
            # restore exits early. Its exit code, checked by the caller, tells which.
            break
    with contextlib.suppress(BrokenPipeError):
        stdin.close()
    process.wait()


def _stop(process: subprocess.Popen[bytes]) -> None:
    # Killed, not terminated: on SIGTERM mongorestore waits for the rest of its stdin, and
    # that rest must never come (a restore being abandoned must not finish).
    if process.poll() is None:
        kill_tool(process)
        process.wait()
    if process.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()


class _Output:
    """Drains mongorestore's stderr: a bounded, redacted tail, and the counts it reports."""

    def __init__(self, process: subprocess.Popen[bytes], redactor: Redactor) -> None:
        assert process.stderr is not None
        self._stderr: IO[bytes] = process.stderr
        self._process = process
        self._redactor = redactor
        self.tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self.restored: dict[str, int] = {}
        self.planned: dict[str, str] = {}
        self.failures = 0
        self._reader = threading.Thread(target=self._drain, name="mongorestore-stderr", daemon=True)
        self._reader.start()

    def join(self) -> None:
        self._reader.join(timeout=10)

    def last_words(self) -> str:
        """': <its explanation>', without the timestamp mongorestore puts first; or ''. Its
        last 'Failed:' line explains best: counts may follow it (after a failed oplog replay)."""
        lines = [line.split(chr(9), 1)[-1] for line in self.tail]
        failed = [line for line in lines if line.startswith("Failed:")]
        return f": {(failed or lines)[-1]}" if lines else ""

    def details(self) -> dict[str, object]:
        return {"exit_code": self._process.returncode, "stderr_tail": list(self.tail)}

    def _drain(self) -> None:
        for raw in self._stderr:
            line = self._redactor.redact(raw.decode("utf-8", "replace").rstrip())
            self.tail.append(line)
            log.debug("mongorestore: %s", line)
            if finished := _FINISHED.search(line):
                self.restored[finished["ns"]] = int(finished["count"])
            elif summary := _SUMMARY.search(line):
                self.failures = int(summary["failed"])
            elif planned := _PLANNED.search(line):
                self.planned[planned["target"]] = planned["source"]
        self._stderr.close()
