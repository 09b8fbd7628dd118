"""DumpRunner on the real `mongodump --archive`, streamed from a subprocess."""

from __future__ import annotations

import collections
import contextlib
import io
import logging
import math
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from backupnimbus.adapters.replica_set import ReplicaSetProbeError, replica_set_name
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.tool_config import kill_tool, private_config, run_tool, start_tool
from backupnimbus.errors import ConfigInvalidError, DumpFailedError
from backupnimbus.redaction import Redactor
from backupnimbus.stop_signal import StopSignal

log = logging.getLogger(__name__)

_DONE_DUMPING = re.compile(r"done dumping (?P<ns>\S+) \((?P<count>\d+) documents?\)")
_STDERR_TAIL_LINES = 40
# mongodump's words for a URI or an option it cannot parse; see mongo-tools common/options.
_REJECTED = re.compile(r"error parsing (command line options|uri)|unknown option", re.IGNORECASE)
_FIRST_READ = 64 * 1024
_PROBE_TIMEOUT_S = 10.0
_VERSION_TIMEOUT_S = 30
# mongodump's words (mongo-tools mongodump/*.go) when it leaves something out and still exits 0:
# a collection dropped while it ran, a --collection that does not exist; and any line of the
# error level, which a later version may print for a collection it skips.
_LEFT_OUT = re.compile(
    r"appears to have been dropped after the dump started"
    r"|^namespace with DB .+ and collection .+ does not exist"
    r"|^skipping (?!users/roles dump, already dumped admin database|dump of \S+, it is excluded)"
    r"|^(Failed:|error\b)",
    re.IGNORECASE,
)
# The Go driver's words for refused credentials ("auth error: sasl conversation error: unable
# to authenticate using mechanism ...: (AuthenticationFailed) Authentication failed.").
_AUTH_FAILED = re.compile(
    r"\bauth error\b|authentication failed|AuthenticationFailed|unable to authenticate",
    re.IGNORECASE,
)


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
        connect_timeout_s: float = 30.0,
        oplog: str = "false",
    ) -> None:
        """Args: oplog: "true", "false", or "auto" (when the source is a replica-set member
        and the whole deployment is dumped: mongodump refuses --oplog with --db)."""
        self._executable = executable
        self._uri = uri
        self._namespace_args = namespace_arguments(include=ns_include, exclude=ns_exclude)
        self._redactor = redactor.with_secrets([uri])
        self._retry = retry
        self._connect_timeout_s = connect_timeout_s
        self._own_timeouts = _uri_options(uri)
        self._oplog: bool | None = {"true": True, "false": False}.get(oplog)
        if self._oplog is None and ns_include:
            self._oplog = False

    def describe_tool(self) -> str:
        try:
            completed = run_tool([self._executable, "--version"], timeout=_VERSION_TIMEOUT_S)
        except OSError as exc:
            raise self._not_runnable(exc) from exc
        except subprocess.TimeoutExpired:
            raise DumpFailedError(
                f"'{self._executable} --version' gave no answer within {_VERSION_TIMEOUT_S} s: "
                "check MONGODUMP_PATH names mongodump itself, or a script that runs it",
                details={"executable": self._executable},
            ) from None
        first = (completed.stdout or completed.stderr).strip().splitlines()
        if completed.returncode != 0 or not first:
            raise DumpFailedError(
                f"'{self._executable} --version' failed with exit code {completed.returncode}",
                details={"executable": self._executable},
            )
        return first[0].split("version:", 1)[-1].strip()

    @contextlib.contextmanager
    def open_dump(self, *, stop: StopSignal) -> Iterator[MongodumpStream]:
        stop.raise_if_set()
        started = time.monotonic()

        def attempt() -> MongodumpStream:
            stop.raise_if_set()
            remaining = self._connect_timeout_s - (time.monotonic() - started)
            if self._oplog is None:
                self._oplog = self._is_replica_set(remaining)
            return self._start(stop=stop, connect_s=remaining)

        stream = self._retry.call(
            attempt,
            is_transient=lambda exc: (
                isinstance(exc, _DumpNotStartedError)
                or (isinstance(exc, ReplicaSetProbeError) and exc.transient)
            ),
            log=log,
            what="mongodump",
            stop=stop,
            budget_s=self._connect_timeout_s,
        )
        try:
            yield stream
        finally:
            stream.close()

    def _start(self, *, stop: StopSignal, connect_s: float) -> MongodumpStream:
        argv = [self._executable, "--archive"]
        argv += self._namespace_args
        if self._oplog:
            argv.append("--oplog")
        # Whole seconds: mongo-tools reads both options as seconds (and, through a bug, reads
        # the URI's serverSelectionTimeoutMS/connectTimeoutMS as seconds too, so a user's own
        # value is left alone rather than contradicted, which mongodump would reject).
        seconds = max(1, math.ceil(connect_s))
        if "serverselectiontimeoutms" not in self._own_timeouts:
            argv.append(f"--serverSelectionTimeout={seconds}")
        if "connecttimeoutms" not in self._own_timeouts:
            argv.append(f"--dialTimeout={seconds}")
        process: subprocess.Popen[bytes] | None = None
        stream: MongodumpStream | None = None
        try:
            with private_config(self._uri) as config:
                argv.insert(1, config.argument)
                try:
                    process = start_tool(
                        argv, config,
                        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    )  # fmt: skip
                except OSError as exc:
                    raise self._not_runnable(exc) from exc
            stream = MongodumpStream(process, self._redactor, stop)
            stream.prime()
        except BaseException:
            # Whatever interrupts the start (a stop, Ctrl-C, a SIGTERM handler's exception)
            # must not leave mongodump running, nor unreaped.
            if process is not None:
                _kill_and_reap(process)
            if stream is not None:
                stream.close()
            raise
        return stream

    def _is_replica_set(self, remaining_s: float) -> bool:
        name = replica_set_name(
            self._uri, timeout_s=min(_PROBE_TIMEOUT_S, max(1.0, remaining_s)),
            redactor=self._redactor,
        )  # fmt: skip
        log.info(
            "source is a replica-set member: dumping with --oplog" if name
            else "source is not a replica-set member: dumping without --oplog"
        )  # fmt: skip
        return name is not None

    def _not_runnable(self, exc: BaseException) -> DumpFailedError:
        return DumpFailedError(
            f"Cannot run mongodump at '{self._executable}': {exc.__class__.__name__}. "
            "Install the MongoDB Database Tools or set MONGODUMP_PATH.",
            details={"executable": self._executable},
        )


class MongodumpStream:
    """Reads a running mongodump's stdout; end-of-file only after a clean exit."""

    def __init__(
        self, process: subprocess.Popen[bytes], redactor: Redactor, stop: StopSignal | None = None
    ) -> None:
        self._process = process
        self._redactor = redactor
        self._stop_signal = stop or StopSignal()
        self._pending = b""
        self._tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._counts: dict[str, int] = {}
        self._warnings: list[str] = []
        self._finished = False
        self._stderr_reader = threading.Thread(
            target=self._drain_stderr, name="mongodump-stderr", daemon=True
        )
        self._stderr_reader.start()
        # Killed, whatever it is doing: a blocked read then ends, and raises the stop's reason.
        self._unregister = self._stop_signal.on_stop(self.stop)

    def prime(self) -> None:
        """Waits for the first bytes, so a dump that cannot even connect can be retried."""
        stdout = self._stdout
        assert isinstance(stdout, io.BufferedReader)
        first = stdout.read1(_FIRST_READ)
        if first:
            self._pending = first
            return
        self.close()
        self._stop_signal.raise_if_set()
        if self._process.returncode == 0:
            # Nothing to dump (a --collection that does not exist): done, with its warning.
            self._finished = True
            return
        lines = [_without_timestamp(line) for line in self._tail]
        rejected = [line for line in lines if _REJECTED.search(line)]
        if rejected:
            # Running it again would fail the same way: this is the configuration's fault.
            raise ConfigInvalidError(
                [
                    f"mongodump rejected its options ({rejected[0]}); check MONGO_URI, "
                    "MONGODUMP_NS_INCLUDE and MONGODUMP_NS_EXCLUDE"
                ]
            )
        last = _last_error(lines)
        if is_authentication_failure(last):
            # Another try would be refused the same way, and may lock the account.
            raise DumpFailedError(
                f"mongodump could not log in; check the user and password in MONGO_URI: {last}",
                details=self._failure_details(),
            )
        raise _DumpNotStartedError(
            f"mongodump exited with code {self._process.returncode} before writing anything"
            + (f": {last}" if last else ""),
            details=self._failure_details(),
        )

    def read(self, size: int, /) -> bytes:
        self._stop_signal.raise_if_set()
        if self._finished and not self._pending:
            return b""
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
        """mongodump's lines saying something was left out of a dump it still calls a success."""
        self._stderr_reader.join(timeout=10)
        return tuple(self._warnings)

    def stop(self) -> None:
        """Kills mongodump from any thread. A blocked `read` then reaches the end of the pipe and
        raises DumpFailedError (killed), so a partial archive never passes for a whole one."""
        kill_tool(self._process)

    def close(self) -> None:
        """Stops mongodump if it still runs, and reaps it. Safe to call more than once."""
        self._unregister()
        if self._process.poll() is None:
            kill_tool(self._process, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_tool(self._process)
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
        self._stop_signal.raise_if_set()
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
            warning = dump_warning(line)
            if warning is not None:
                self._warnings.append(warning)
                log.warning("mongodump: %s", warning)
            else:
                log.debug("mongodump: %s", line)


def _kill_and_reap(process: subprocess.Popen[bytes]) -> None:
    kill_tool(process)
    process.wait()
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def dump_warning(line: str) -> str | None:
    """The line, timestamp stripped, when it says mongodump left something out; else None."""
    text = _without_timestamp(line)
    return text if _LEFT_OUT.search(text) else None


def is_authentication_failure(line: str) -> bool:
    return bool(_AUTH_FAILED.search(line))


def _last_error(lines: Sequence[str]) -> str:
    """mongodump's own explanation: its last 'Failed:' line, else its last line."""
    failed = [line for line in lines if line.startswith("Failed:")]
    return (failed or list(lines) or [""])[-1]


def _uri_options(uri: str) -> frozenset[str]:
    """The lower-cased option names in the URI's query string."""
    query = uri.partition("?")[2]
    return frozenset(
        part.partition("=")[0].strip().lower() for part in re.split(r"[&;]", query) if part
    )


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
