"""DumpRunner on the real `mongodump --archive`, streamed from a subprocess."""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import re
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.tool_config import private_config
from backupnimbus.errors import ConfigInvalidError, DumpFailedError
from backupnimbus.redaction import Redactor
from backupnimbus.stop_signal import StopSignal

log = logging.getLogger(__name__)

_DONE_DUMPING = re.compile(r"done dumping (?P<ns>\S+) \((?P<count>\d+) documents?\)")
_STDERR_TAIL_LINES = 40
# mongodump's words for a URI or an option it cannot parse; see mongo-tools common/options.
_REJECTED = re.compile(r"error parsing (command line options|uri)|unknown option", re.IGNORECASE)
_FIRST_READ = 64 * 1024


class _DumpNotStartedError(DumpFailedError):
    """mongodump exited before writing a single byte: safe to run again from scratch."""


class MongodumpRunner:
    def __init__(
        self,
        *,
        executable: str,
        uri: str,
        ns_include: Sequence[str] = (),
        ns_exclude: Sequence[str] = (),
        redactor: Redactor,
        retry: RetryPolicy,
    ) -> None:
        self._executable = executable
        self._uri = uri
        self._namespace_args = namespace_arguments(include=ns_include, exclude=ns_exclude)
        self._redactor = redactor.with_secrets([uri])
        self._retry = retry

    def describe_tool(self) -> str:
        try:
            completed = subprocess.run(
                [self._executable, "--version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise self._not_runnable(exc) from exc
        first = (completed.stdout or completed.stderr).strip().splitlines()
        if completed.returncode != 0 or not first:
            raise DumpFailedError(
                f"'{self._executable} --version' failed with exit code {completed.returncode}",
                details={"executable": self._executable},
            )
        return first[0].split("version:", 1)[-1].strip()

    @contextlib.contextmanager
    def open_dump(self, *, compress: bool, stop: StopSignal) -> Iterator[MongodumpStream]:
        with private_config(self._uri) as config_path:
            stream = self._retry.call(
                lambda: self._start(config_path, compress=compress),
                is_transient=lambda exc: isinstance(exc, _DumpNotStartedError),
                log=log,
                what="mongodump",
            )
            try:
                yield stream
            finally:
                stream.close()

    def _start(self, config_path: str, *, compress: bool) -> MongodumpStream:
        # The URI, password included, is only in the 0600 config file: never in argv.
        argv = [self._executable, f"--config={config_path}", "--archive"]
        if compress:
            argv.append("--gzip")
        argv += self._namespace_args
        try:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
        except OSError as exc:
            raise self._not_runnable(exc) from exc
        stream = MongodumpStream(process, self._redactor)
        stream.prime()
        return stream

    def _not_runnable(self, exc: BaseException) -> DumpFailedError:
        return DumpFailedError(
            f"Cannot run mongodump at '{self._executable}': {exc.__class__.__name__}. "
            "Install the MongoDB Database Tools or set MONGODUMP_PATH.",
            details={"executable": self._executable},
        )


class MongodumpStream:
    """Reads a running mongodump's stdout; end-of-file only after a clean exit."""

    def __init__(self, process: subprocess.Popen[bytes], redactor: Redactor) -> None:
        self._process = process
        self._redactor = redactor
        self._pending = b""
        self._tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._counts: dict[str, int] = {}
        self._finished = False
        self._stderr_reader = threading.Thread(
            target=self._drain_stderr, name="mongodump-stderr", daemon=True
        )
        self._stderr_reader.start()

    def prime(self) -> None:
        """Waits for the first bytes, so a dump that cannot even connect can be retried."""
        stdout = self._stdout
        assert isinstance(stdout, io.BufferedReader)
        first = stdout.read1(_FIRST_READ)
        if first:
            self._pending = first
            return
        self.close()
        rejected = [_without_timestamp(line) for line in self._tail if _REJECTED.search(line)]
        if rejected:
            # Running it again would fail the same way: this is the configuration's fault.
            raise ConfigInvalidError(
                [
                    f"mongodump rejected its options ({rejected[0]}); check MONGO_URI, "
                    "MONGODUMP_NS_INCLUDE and MONGODUMP_NS_EXCLUDE"
                ]
            )
        raise _DumpNotStartedError(
            f"mongodump exited with code {self._process.returncode} before writing anything",
            details=self._failure_details(),
        )

    def read(self, size: int, /) -> bytes:
        if self._pending:
            chunk, self._pending = self._pending[:size], self._pending[size:]
            if len(chunk) < size:
                chunk += self._stdout.read(size - len(chunk))
        else:
            chunk = self._stdout.read(size)
        if len(chunk) < size:
            self._finish()
        return chunk

    def namespaces(self) -> Mapping[str, int]:
        return dict(self._counts)

    def warnings(self) -> tuple[str, ...]:
        return ()

    def stop(self) -> None:
        """Kills mongodump from any thread. A blocked `read` then reaches the end of the pipe and
        raises DumpFailedError (killed), so a partial archive never passes for a whole one."""
        if self._process.poll() is None:
            self._process.kill()

    def close(self) -> None:
        """Stops mongodump if it still runs, and reaps it. Safe to call more than once."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._stdout.close()
        self._stderr_reader.join(timeout=10)

    @property
    def _stdout(self) -> IO[bytes]:
        assert self._process.stdout is not None
        return self._process.stdout

    def _finish(self) -> None:
        if self._finished:
            return
        code = self._process.wait()
        self._stderr_reader.join(timeout=10)
        if code != 0:
            raise DumpFailedError(_exit_description(code), details=self._failure_details())
        self._finished = True

    def _failure_details(self) -> dict[str, object]:
        self._stderr_reader.join(timeout=10)
        return {"exit_code": self._process.returncode, "stderr_tail": list(self._tail)}

    def _drain_stderr(self) -> None:
        assert self._process.stderr is not None
        for raw in self._process.stderr:
            line = self._redactor.redact(raw.decode("utf-8", "replace").rstrip())
            self._tail.append(line)
            done = _DONE_DUMPING.search(line)
            if done:
                self._counts[done["ns"]] = int(done["count"])
            log.debug("mongodump: %s", line)


def _exit_description(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"mongodump was killed by {name} before it finished"
    return f"mongodump failed with exit code {code}"


def _without_timestamp(line: str) -> str:
    # mongodump prefixes each line with an ISO timestamp and a tab.
    return line.rpartition("\t")[2].strip()


def namespace_arguments(*, include: Sequence[str], exclude: Sequence[str]) -> list[str]:
    """Translates namespace patterns into the options mongodump understands.

    mongodump has no --nsInclude/--nsExclude (only mongorestore does). It selects with
    --db/--collection and excludes with --excludeCollection/--excludeCollectionsWithPrefix,
    all within one database. So the patterns are limited to what those can express, and
    anything else is rejected up front rather than silently dumping the wrong data.
    """
    problems: list[str] = []
    args: list[str] = []
    database: str | None = None
    if len(include) > 1:
        problems.append(
            "MONGODUMP_NS_INCLUDE may name one pattern ('db.*' or 'db.collection'): "
            "mongodump dumps one database or the whole server into an archive"
        )
    elif include:
        database, _, collection = include[0].partition(".")
        if not database or "*" in database or not collection:
            problems.append("MONGODUMP_NS_INCLUDE must look like 'db.*' or 'db.collection'")
        else:
            args.append(f"--db={database}")
            if collection != "*":
                if "*" in collection:
                    problems.append("MONGODUMP_NS_INCLUDE may use '*' only as the whole collection")
                args.append(f"--collection={collection}")
    for pattern in exclude:
        db, _, collection = pattern.partition(".")
        if database is None or db != database or not collection or collection == "*":
            problems.append(
                f"MONGODUMP_NS_EXCLUDE pattern {pattern!r} must name a collection ('db.coll' or "
                "'db.prefix*') of the database selected by MONGODUMP_NS_INCLUDE"
            )
        elif collection.endswith("*") and "*" not in collection[:-1]:
            args.append(f"--excludeCollectionsWithPrefix={collection[:-1]}")
        elif "*" not in collection:
            args.append(f"--excludeCollection={collection}")
        else:
            problems.append(f"MONGODUMP_NS_EXCLUDE pattern {pattern!r}: '*' only at the end")
    if problems:
        raise ConfigInvalidError(problems)
    return args
