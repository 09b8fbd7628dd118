"""mongodump and mongorestore as child processes: they stop when the run stops, die with their
parent, get the URI through a pipe and nothing else of ours, and report what they left out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tenacity
from pymongo import MongoClient

from backupnimbus.adapters.mongodump import (
    MongodumpRunner,
    dump_warning,
    is_authentication_failure,
)
from backupnimbus.adapters.mongorestore import MongorestoreRestorer
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.errors import DeadlineExceededError, DumpFailedError, RestoreFailedError
from backupnimbus.ports.archive_restorer import RestoreOptions
from backupnimbus.redaction import Redactor
from backupnimbus.stop_signal import StopSignal
from tests.support.fault_db import HOLD_LISTING, FaultDb
from tests.support.servers import REPO, Secantus, free_port, start_secantus

NO_WAIT = RetryPolicy(wait=tenacity.wait_none())
# Listing held by the server: mongodump is connected but has not written a byte.


def _children(name: str) -> list[tuple[int, str]]:
    """(pid, state) of this process's children running `name`, zombies included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == os.getpid() and comm == name:
            found.append((int(entry.name), state))
    return found


def _wait_for_child(name: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [pid for pid, state in _children(name) if state != "Z"]
        if running:
            return running[0]
        time.sleep(0.05)
    raise AssertionError(f"no {name} started within {timeout} s")


def _set_later(stop: StopSignal, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, stop.set, args=(DeadlineExceededError("time is up"),))
    timer.start()
    return timer


def _runner(uri: str, mongo_tools: Path, **kwargs: Any) -> MongodumpRunner:
    return MongodumpRunner(
        executable=str(mongo_tools / "mongodump"), uri=uri, redactor=Redactor(),
        **{"retry": NO_WAIT, **kwargs},
    )  # fmt: skip


def _drain(dump: Any) -> None:
    while dump.read(1024 * 1024):
        pass


# 1. One StopSignal for every phase


def test_stop_before_the_first_byte_kills_mongodump_and_raises_its_reason(
    fault_db: FaultDb, mongo_tools: Path
) -> None:
    stop = StopSignal()
    runner = _runner(fault_db.uri, mongo_tools)
    started = time.monotonic()

    with fault_db.fail_point(mode="alwaysOn", data=HOLD_LISTING):
        timer = _set_later(stop, 1.5)
        with pytest.raises(DeadlineExceededError), runner.open_dump(stop=stop):
            pass
        timer.join()

    assert time.monotonic() - started < 15, "the stop must not wait for the held command"
    assert _children("mongodump") == [], "mongodump must be killed and reaped"


def test_stop_during_the_back_off_wakes_it_and_raises_without_another_try(
    mongo_tools: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    tool = tmp_path / "mongodump"
    tool.write_text(f"#!/bin/sh\necho run >> {runs}\necho 'Failed: no server' >&2\nexit 1\n")
    tool.chmod(0o755)
    stop = StopSignal()
    runner = MongodumpRunner(
        executable=str(tool), uri="mongodb://127.0.0.1:1/", redactor=Redactor(),
        retry=RetryPolicy(attempts=5, wait=tenacity.wait_fixed(120)), connect_timeout_s=600,
    )  # fmt: skip
    started = time.monotonic()

    timer = _set_later(stop, 1.0)
    with pytest.raises(DeadlineExceededError), runner.open_dump(stop=stop):
        pass
    timer.join()

    assert time.monotonic() - started < 10, "the 120 s back-off must wake at the stop"
    assert runs.read_text().splitlines() == ["run"]


def test_stop_while_streaming_kills_mongodump_and_the_next_read_raises_the_reason(
    fault_db: FaultDb, mongo_tools: Path
) -> None:
    database = fault_db.dataset("blobs11")
    stop = StopSignal()
    runner = _runner(fault_db.uri, mongo_tools, ns_include=[f"{database}.*"])

    with runner.open_dump(stop=stop) as dump:
        assert dump.read(64 * 1024)
        stop.set(DeadlineExceededError("time is up"))
        with pytest.raises(DeadlineExceededError):
            _drain(dump)

    assert _children("mongodump") == []


def test_an_interrupt_while_waiting_for_the_first_byte_kills_and_reaps_mongodump(
    fault_db: FaultDb, mongo_tools: Path
) -> None:
    running: list[tuple[int, str]] = []

    def interrupt(signum: int, frame: Any) -> None:
        running.extend(_children("mongodump"))
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    runner = _runner(fault_db.uri, mongo_tools)
    try:
        with fault_db.fail_point(mode="alwaysOn", data=HOLD_LISTING):
            signal.setitimer(signal.ITIMER_REAL, 1.5)
            with (
                pytest.raises(KeyboardInterrupt),
                runner.open_dump(stop=StopSignal()),
            ):
                pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    assert len(running) == 1, "mongodump was running, held before its first byte"
    assert _children("mongodump") == []


# 2 and 3. The child dies with its parent, and no file holds the URI


PARENT = textwrap.dedent(
    """
    import sys
    from backupnimbus.adapters.mongodump import MongodumpRunner
    from backupnimbus.adapters.retrying import RetryPolicy
    from backupnimbus.redaction import Redactor
    from backupnimbus.stop_signal import StopSignal

    runner = MongodumpRunner(executable=sys.argv[1], uri=sys.argv[2], redactor=Redactor(),
                             retry=RetryPolicy(attempts=1))
    with runner.open_dump(stop=StopSignal()) as dump:
        pass
    """
)


def test_mongodump_dies_with_a_killed_parent_and_leaves_no_file_with_the_uri(
    fault_db: FaultDb, mongo_tools: Path, tmp_path: Path
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    uri = fault_db.uri + "?appName=marker-7d1e"
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "TMPDIR": str(temp)}
    with fault_db.fail_point(mode="alwaysOn", data=HOLD_LISTING):
        parent = subprocess.Popen(
            [sys.executable, "-c", PARENT, str(mongo_tools / "mongodump"), uri], env=env
        )
        try:
            dump_pid = _grandchild(parent.pid, "mongodump")
            parent.kill()
            parent.wait()
            assert _gone(dump_pid, 10), "mongodump outlived its SIGKILLed parent"
        finally:
            if parent.poll() is None:
                parent.kill()
                parent.wait()

    assert not [p for p in temp.rglob("*") if p.is_file() and "marker-7d1e" in p.read_text()]


def _grandchild(parent: int, name: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                comm = stat[stat.index("(") + 1 : stat.rindex(")")]
                ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
                if ppid == parent and comm == name:
                    return int(entry.name)
        time.sleep(0.05)
    raise AssertionError(f"{name} never started under {parent}")


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":  # dead; its new parent (init) reaps it
            return True
        time.sleep(0.05)
    return False


def test_a_whole_backup_leaves_no_file_with_the_uri_in_the_temp_dir(
    secantus: Secantus, database: str, mongo_tools: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    MongoClient[dict[str, Any]](secantus.uri)[database].things.insert_one({"n": 1})
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    uri = secantus.uri + "?appName=marker-3b9a"
    runner = _runner(uri, mongo_tools, ns_include=[f"{database}.*"])

    read = 0
    with runner.open_dump(stop=StopSignal()) as dump:
        while chunk := dump.read(1024 * 1024):
            read += len(chunk)

    assert read > 0, "the dump ran"
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and "marker-3b9a" in p.read_text()]


# 4. Nothing of ours in the tools' environment

PLANTED = "planted-env-secret-9c2e71"
OURS = ("AWS_SECRET_ACCESS_KEY", "MONGO_URI", "AGE_IDENTITY", "NOTIFICATION_RECIPIENTS",
        "RESTORE_TARGET_URI", "SOMETHING_ELSE")  # fmt: skip


def _environ(pid: int) -> dict[str, str]:
    # Empty for a moment while exec sets the new program up: read again until it is there.
    deadline = time.monotonic() + 10
    while not (raw := Path(f"/proc/{pid}/environ").read_bytes().decode()):
        assert time.monotonic() < deadline, f"the environment of {pid} stayed empty"
        time.sleep(0.05)
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def test_mongodump_gets_only_path_and_locale_from_our_environment(
    fault_db: FaultDb, mongo_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OURS:
        monkeypatch.setenv(name, PLANTED)
    stop = StopSignal()
    runner = _runner(fault_db.uri, mongo_tools)
    seen: dict[str, str] = {}

    def look() -> None:
        seen.update(_environ(_wait_for_child("mongodump")))
        stop.set(DeadlineExceededError("seen"))

    with fault_db.fail_point(mode="alwaysOn", data=HOLD_LISTING):
        looker = threading.Thread(target=look)
        looker.start()
        with pytest.raises(DeadlineExceededError), runner.open_dump(stop=stop):
            pass
        looker.join()

    assert seen["PATH"] == os.environ["PATH"]
    assert set(seen) <= {"PATH", "HOME", "LANG", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR"}
    assert PLANTED not in "".join(seen.values())


class _HeldStream:
    """An archive that does not come until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def read(self, size: int = -1, /) -> bytes:
        self.release.wait(30)
        return b""


def test_mongorestore_gets_only_path_and_locale_from_our_environment(
    secantus: Secantus, mongo_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in OURS:
        monkeypatch.setenv(name, PLANTED)
    restorer = MongorestoreRestorer(
        executable=str(mongo_tools / "mongorestore"), uri=secantus.uri, redactor=Redactor()
    )
    stream = _HeldStream()
    seen: dict[str, str] = {}

    def look() -> None:
        try:
            seen.update(_environ(_wait_for_child("mongorestore")))
        finally:
            stream.release.set()

    looker = threading.Thread(target=look)
    looker.start()
    with pytest.raises(RestoreFailedError):  # an empty archive: the restore itself fails
        restorer.restore(stream=stream, compressed=False, options=RestoreOptions())
    looker.join()

    assert seen["PATH"] == os.environ["PATH"]
    assert set(seen) <= {"PATH", "HOME", "LANG", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR"}
    assert PLANTED not in "".join(seen.values())


# 5. What a dump that exits 0 left out

# mongo-tools mongodump/metadata_dump.go and mongodump/mongodump.go, as printed.
DROPPED = "2025-07-15T10:00:00.000+0000\tthe collection shop.carts appears to have been dropped after the dump started"  # noqa: E501
MISSING = "2025-07-15T10:00:00.000+0000\tnamespace with DB shop and collection nope does not exist"
ORDINARY = [
    "2025-07-15T10:00:00.000+0000\twriting shop.orders to archive on stdout",
    "2025-07-15T10:00:00.000+0000\tdone dumping shop.orders (12 documents)",
    "2025-07-15T10:00:00.000+0000\tskipping users/roles dump, already dumped admin database",
]


def test_the_lines_of_something_left_out_are_warnings_and_ordinary_ones_are_not() -> None:
    assert dump_warning(DROPPED) == (
        "the collection shop.carts appears to have been dropped after the dump started"
    )
    assert dump_warning(MISSING) == "namespace with DB shop and collection nope does not exist"
    assert [dump_warning(line) for line in ORDINARY] == [None, None, None]


def test_a_dump_of_a_missing_collection_exits_0_with_a_warning(
    secantus: Secantus, database: str, mongo_tools: Path, caplog: pytest.LogCaptureFixture
) -> None:
    MongoClient[dict[str, Any]](secantus.uri)[database].things.insert_one({"n": 1})
    runner = _runner(secantus.uri, mongo_tools, ns_include=[f"{database}.absent"])
    caplog.set_level("WARNING", logger="backupnimbus")

    with runner.open_dump(stop=StopSignal()) as dump:
        while dump.read(1024 * 1024):
            pass
        warnings = dump.warnings()

    expected = f"namespace with DB {database} and collection absent does not exist"
    assert warnings == (expected,)
    assert any(r.levelname == "WARNING" and expected in r.getMessage() for r in caplog.records)


# 6. Connection failures fail fast, with mongodump's own words

# What mongodump prints for a wrong password (Go driver, SCRAM).
AUTH_FAILED = (
    "Failed: can't create session: failed to connect to mongodb://backup:***@db:27017/: "
    "connection() error occurred during connection handshake: auth error: sasl conversation "
    'error: unable to authenticate using mechanism "SCRAM-SHA-256": (AuthenticationFailed) '
    "Authentication failed."
)
REFUSED = (
    "Failed: can't create session: failed to connect to mongodb://127.0.0.1:1/: server selection "
    "error: server selection timeout, current topology: { Type: Single, Servers: [{ Addr: "
    "127.0.0.1:1, Type: Unknown, Last error: dial tcp 127.0.0.1:1: connect: connection refused "
    "}, ] }"
)


def test_the_wording_of_a_refused_login_is_told_from_an_unreachable_server() -> None:
    assert is_authentication_failure(AUTH_FAILED)
    assert not is_authentication_failure(REFUSED)


def test_a_closed_port_fails_within_the_connect_budget_with_mongodumps_words(
    mongo_tools: Path, caplog: pytest.LogCaptureFixture
) -> None:
    budget = 3.0
    uri = f"mongodb://backup:Pa55-word-x@127.0.0.1:{free_port()}/"
    runner = _runner(uri, mongo_tools, retry=RetryPolicy(attempts=10), connect_timeout_s=budget)
    caplog.set_level("WARNING", logger="backupnimbus")
    started = time.monotonic()

    with (
        pytest.raises(DumpFailedError) as raised,
        runner.open_dump(stop=StopSignal()),
    ):
        pass

    elapsed = time.monotonic() - started
    # The tries share the budget (10 tries of their own would take 30 s); slack for a busy host.
    assert elapsed < budget + 8, f"took {elapsed:.1f} s for a {budget} s budget"
    assert "connection refused" in raised.value.message
    assert "Pa55-word-x" not in raised.value.message
    assert "_DumpNotStartedError" not in caplog.text


@pytest.fixture(scope="module")
def auth_secantus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secantus]:
    """A SecantusDB that enforces SCRAM logins, with the user backup/right-pw-41."""
    storage = tmp_path_factory.mktemp("secantus-auth") / "data"
    open_server = start_secantus(storage)
    MongoClient[dict[str, Any]](open_server.uri).admin.command(
        "createUser", "backup", pwd="right-pw-41", roles=["root"]
    )
    open_server.stop()
    server = start_secantus(storage, "--auth")
    yield server
    server.stop()


def test_a_wrong_password_is_tried_once_and_fails_with_mongodumps_words(
    auth_secantus: Secantus, mongo_tools: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs = tmp_path / "runs"
    tool = tmp_path / "mongodump"
    tool.write_text(f'#!/bin/sh\necho run >> {runs}\nexec "{mongo_tools / "mongodump"}" "$@"\n')
    tool.chmod(0o755)
    uri = f"mongodb://backup:wrong-pw-17@127.0.0.1:{auth_secantus.port}/?authSource=admin"
    runner = MongodumpRunner(
        executable=str(tool), uri=uri, redactor=Redactor(), retry=RetryPolicy(attempts=5)
    )
    caplog.set_level("WARNING", logger="backupnimbus")

    with (
        pytest.raises(DumpFailedError) as raised,
        runner.open_dump(stop=StopSignal()),
    ):
        pass

    assert runs.read_text().splitlines() == ["run"]
    assert "authentication failed" in raised.value.message.lower()
    assert "wrong-pw-17" not in raised.value.message
    assert "retrying" not in caplog.text


def _sleepers(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def test_a_stop_also_ends_what_a_wrapper_started_so_the_dump_is_not_held_open(
    mongo_tools: Path, tmp_path: Path
) -> None:
    # A MONGODUMP_PATH script that does not `exec`: its child holds the dump's stdout open, and
    # only killing the script would leave the run reading until that child ends.
    marker = f"40.{os.getpid()}{time.monotonic_ns() % 10**6}"  # unique, and over in 40 s
    tool = tmp_path / "mongodump"
    tool.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version) exec "{mongo_tools / "mongodump"}" "$@";; esac\n'
        f"sleep {marker}\n"
    )
    tool.chmod(0o755)
    stop = StopSignal()
    runner = MongodumpRunner(executable=str(tool), uri="mongodb://127.0.0.1:1/",
                             redactor=Redactor(), retry=NO_WAIT)  # fmt: skip
    started = time.monotonic()

    timer = _set_later(stop, 1.5)
    with pytest.raises(DeadlineExceededError), runner.open_dump(stop=stop) as dump:
        _drain(dump)
    timer.join()

    assert time.monotonic() - started < 15, "the stop must not wait for the wrapper's child"
    assert _sleepers(f"sleep {marker}") == [], "the wrapper's child must end with the dump"


def test_a_version_that_never_answers_is_given_up_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    marker = f"40.{os.getpid()}{time.monotonic_ns() % 10**6}"  # unique, and over in 40 s
    tool = tmp_path / "mongodump"
    tool.write_text(f"#!/bin/sh\nsleep {marker}\n")
    tool.chmod(0o755)
    runner = MongodumpRunner(executable=str(tool), uri="mongodb://127.0.0.1:1/",
                             redactor=Redactor(), retry=NO_WAIT)  # fmt: skip

    with pytest.raises(DumpFailedError, match="--version"):
        runner.describe_tool()

    assert _sleepers(f"sleep {marker}") == [], "the tool's children must not outlive the check"
