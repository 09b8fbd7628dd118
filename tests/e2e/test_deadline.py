"""Deadlines: a backup that is about to run out of time stops itself, cleanly.

The budget is Lambda's remaining time less a margin, or `run --timeout`; SIGTERM stops a run the
same way. Either way mongodump is stopped, the multipart upload aborted, the failure mailed, and
the result is a TIMEOUT error (exit 1), even when the run is blocked on a stalled dump or a
stalled upload at that moment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest

from backupnimbus.adapters.clock import SystemClock
from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.fake_archive import fake_archive
from backupnimbus.adapters.memory import FakeClock, FakeDumpRunner, InMemoryObjectStore
from backupnimbus.domain.models import BackupRequest, SourceInfo
from backupnimbus.domain.run_backup import BackupSettings, RunBackup
from backupnimbus.entrypoints.container import bootstrap
from backupnimbus.entrypoints.jobs import LAMBDA_MARGIN_S, lambda_budget_s
from backupnimbus.entrypoints.lambda_handler import InvocationFailedError, make_handler
from backupnimbus.errors import DeadlineExceededError, DumpFailedError
from backupnimbus.ports.compressor import NONE, Compression
from tests.support.cli import run_cli
from tests.support.dump_wrappers import cut_mongodump, wait_for_an_uploaded_part
from tests.support.fault_db import FaultDb
from tests.support.fault_matrix import MATRIX, Row
from tests.support.fault_proxy import Action, FaultProxy, Rule
from tests.support.fault_scene import AT, NO_WAIT, contents, open_uploads, with_mail
from tests.support.jobs import fake_backup_job
from tests.support.servers import venv_script
from tests.support.ses import moto_sent

# The use case, with fakes


class StallingDump:
    """Hands out its first bytes, then blocks like a dump whose server stopped answering."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self._sent = False

    def read(self, size: int, /) -> bytes:
        if not self._sent:
            self._sent = True
            return fake_archive({"db.coll": 100}, padding=100)[: min(size, 1000)]
        self.stopped.wait(60)
        raise DumpFailedError("mongodump was killed by SIGKILL before it finished")

    def namespaces(self) -> Mapping[str, int]:
        return {}

    def stop(self) -> None:
        self.stopped.set()


@attrs.define
class StallingDumpRunner:
    dump: StallingDump = attrs.Factory(StallingDump)

    def describe_tool(self) -> str:
        return "stalling-dump 1.0"

    @contextlib.contextmanager
    def open_dump(self, *, stop: Any = None) -> Iterator[StallingDump]:
        yield self.dump


def backup(dumps: Any, store: InMemoryObjectStore, clock: Any) -> RunBackup:
    settings = BackupSettings(
        prefix="backups/", source=SourceInfo(hosts=("db:27017",)), tool_version="0.1.0"
    )
    return RunBackup(
        compressor=FastCompressor(), dumps=dumps, store=store, clock=clock, settings=settings
    )


def test_a_stalled_dump_is_stopped_at_the_deadline() -> None:
    dumps, store = StallingDumpRunner(), InMemoryObjectStore()
    deadline = datetime.now(UTC) + timedelta(seconds=0.5)

    started = time.monotonic()
    with pytest.raises(DeadlineExceededError) as raised:
        backup(dumps, store, SystemClock()).run(
            request=BackupRequest(name="m", deadline=deadline, compression=Compression(NONE))
        )

    # Not before the deadline; long before the stalled read would end on its own (60 s).
    assert 0.4 < time.monotonic() - started < 30
    assert dumps.dump.stopped.is_set(), "the watchdog stopped the dump"
    assert raised.value.code == "TIMEOUT"
    assert raised.value.exit_code == 1
    assert raised.value.details["bytes_read"] == 1000
    assert raised.value.details["deadline"] == deadline.isoformat().replace("+00:00", "Z")
    assert isinstance(raised.value.__cause__, DumpFailedError)
    assert store.aborted == [raised.value.details["key"]]
    assert store.objects == {}


def test_the_deadline_is_also_checked_on_every_read() -> None:
    # FakeClock moves a second per call; no watchdog thread is needed to notice the deadline.
    dumps, store, clock = (
        FakeDumpRunner(data=fake_archive({"db.coll": 400}, padding=400)),
        InMemoryObjectStore(),
        FakeClock(),
    )
    deadline = clock.current + timedelta(seconds=60)

    with pytest.raises(DeadlineExceededError) as raised:
        backup(dumps, store, clock).run(
            request=BackupRequest(name="m", deadline=deadline, compression=Compression(NONE))
        )

    assert 0 < raised.value.details["bytes_read"] < 200_000
    assert dumps.closed == 1
    assert store.aborted == [raised.value.details["key"]]
    assert store.objects == {}


def test_no_time_left_means_no_dump_at_all() -> None:
    dumps, store, clock = FakeDumpRunner(), InMemoryObjectStore(), FakeClock()

    with pytest.raises(DeadlineExceededError) as raised:
        backup(dumps, store, clock).run(
            request=BackupRequest(name="m", deadline=clock.current - timedelta(seconds=1))
        )

    assert dumps.starts == 0
    assert raised.value.details["bytes_read"] == 0
    assert store.objects == {}


def test_a_run_within_its_deadline_succeeds_and_leaves_no_watchdog() -> None:
    dumps, store = (
        FakeDumpRunner(data=fake_archive({"db.coll": 20}, padding=400)),
        InMemoryObjectStore(),
    )
    deadline = datetime.now(UTC) + timedelta(minutes=5)

    result = backup(dumps, store, SystemClock()).run(
        request=BackupRequest(name="m", deadline=deadline, compression=Compression(NONE))
    )

    assert store.committed == [result.manifest.key, result.manifest_key]
    assert not [t for t in threading.enumerate() if t.name == "backup-deadline" and t.is_alive()]


def test_a_timeout_is_mailed_as_a_failure() -> None:
    job, store, mailer = fake_backup_job(
        dumps=FakeDumpRunner(data=fake_archive({"db.coll": 400}, padding=400))
    )
    deadline = FakeClock().current + timedelta(seconds=60)

    with pytest.raises(DeadlineExceededError) as raised:
        job.run(
            request=BackupRequest(name="nightly", deadline=deadline, compression=Compression(NONE))
        )

    [email] = mailer.sent
    assert email.subject == "[BackupNimbus] Backup failed: nightly"
    assert "TIMEOUT" in email.text
    assert raised.value.details["notification"] == {"sent": True, "error": None}
    assert store.objects == {}


@pytest.mark.parametrize(
    ("remaining_ms", "budget_s"),
    [
        (900_000, 900 - LAMBDA_MARGIN_S),
        (60_000, 45.0),
        (20_000, 15.0),
        (4_000, 3.0),
    ],
)
def test_the_lambda_budget_keeps_a_margin(remaining_ms: int, budget_s: float) -> None:
    assert lambda_budget_s(Context(remaining_ms)) == pytest.approx(budget_s)


def test_no_context_no_budget() -> None:
    assert lambda_budget_s(None) is None


# End to end


@attrs.frozen
class Context:
    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def assert_timed_out_cleanly(error: Mapping[str, Any], s3: Any, bucket: str) -> None:
    assert error["code"] == "TIMEOUT"
    assert error["details"]["notification"] == {"sent": True, "error": None}
    assert open_uploads(s3, bucket) == 0
    assert contents(s3, bucket) == {}, "no object and no manifest"


def test_lambda_deadline_mid_upload_with_a_stalled_part(
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    ses_endpoint: str,
) -> None:
    env = with_mail(env, ses_endpoint, "lambda-deadline")
    env["MONGODUMP_NS_INCLUDE"] = f"{fault_db.dataset('blobs11')}.*"
    # The first 8 MiB part goes up; the second stalls far past the deadline.
    [stall] = faults.set_rules(
        [Rule("UploadPart", (Action.STALL,), calls=frozenset({2}), stall_s=60)]
    )
    handler = make_handler(env, bootstrap=partial(bootstrap, retry=NO_WAIT))
    remaining_ms = 8_000
    budget = lambda_budget_s(Context(remaining_ms))
    assert budget is not None

    invoked = datetime.now(UTC)
    started = time.monotonic()
    with pytest.raises(InvocationFailedError) as raised:
        handler({"compress": False, "timestamp": AT}, Context(remaining_ms))
    elapsed = time.monotonic() - started

    error = json.loads(str(raised.value))["error"]
    # The deadline the run set itself: the budget, before Lambda's end. Measured, the stop comes
    # after the budget and well before the stalled part (60 s) would have ended the run itself;
    # the slack is for a loaded machine.
    deadline = datetime.fromisoformat(error["details"]["deadline"])
    lambda_end = invoked + timedelta(milliseconds=remaining_ms)
    assert invoked + timedelta(seconds=budget) <= deadline < lambda_end
    assert budget <= elapsed < budget + 30, f"stopped after {elapsed:.1f} s"
    assert_timed_out_cleanly(error, s3, bucket)
    assert error["details"]["bytes_read"] > 8 * 1024 * 1024
    assert stall.total == 1
    assert faults.answered[("UploadPart", 200)] == 1, "mid-upload: one part was stored"
    assert faults.operations["AbortMultipartUpload"] == 1
    [mail] = moto_sent(ses_endpoint, "[BackupNimbus] Backup failed: lambda-deadline")
    assert "TIMEOUT" in mail.body
    MATRIX.record(
        "deadline-lambda-stalled-upload",
        Row(
            fault="Lambda's remaining time (8 s, so a 6 s budget) runs out while an UploadPart "
            "stalls, one part already stored",
            injected=stall.total,
            expected="TIMEOUT before Lambda's own timeout; upload aborted; failure e-mail",
            observed="TIMEOUT raised to Lambda within its time; upload aborted; no object; failure "
            "e-mail sent",
            failed_cleanly=1,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


def test_cli_timeout_stops_a_stalled_dump(
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    ses_endpoint: str,
) -> None:
    env = with_mail(env, ses_endpoint, "cli-timeout")
    env["MONGODUMP_NS_INCLUDE"] = f"{fault_db.dataset('blobs11')}.*"
    stall = {"failCommands": ["getMore"], "blockConnection": True, "blockTimeMS": 8_000}

    with fault_db.fail_point(mode={"times": 1}, data=stall):
        started = time.monotonic()
        completed = run_cli(["run", "--json", "--timeout", "3", "--timestamp", AT], env)
        elapsed = time.monotonic() - started

    assert completed.returncode == 1, completed.stderr[-3000:]
    assert 3 <= elapsed < 20
    error = json.loads(completed.stdout)["error"]
    assert_timed_out_cleanly(error, s3, bucket)
    assert error["message"].startswith("Out of time: the backup was stopped at its deadline")
    assert faults.operations["AbortMultipartUpload"] == 1
    [mail] = moto_sent(ses_endpoint, "[BackupNimbus] Backup failed: cli-timeout")
    assert "TIMEOUT" in mail.body
    assert "Traceback" not in completed.stderr
    MATRIX.record(
        "deadline-cli-stalled-dump",
        Row(
            fault="`run --timeout 3` while `getMore` blocks for 8 s (fail point): the dump stalls",
            injected=1,
            expected="TIMEOUT, exit 1; mongodump stopped; upload aborted; failure e-mail",
            observed="exit 1, TIMEOUT at the deadline; mongodump killed; upload aborted; "
            "no object; failure e-mail sent",
            failed_cleanly=1,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )


def test_sigterm_stops_a_run_like_a_deadline(
    faults: FaultProxy,
    env: dict[str, str],
    fault_db: FaultDb,
    s3: Any,
    bucket: str,
    ses_endpoint: str,
    mongo_tools: Path,
    tmp_path: Path,
) -> None:
    env = with_mail(env, ses_endpoint, "sigterm")
    env["MONGODUMP_NS_INCLUDE"] = f"{fault_db.dataset('blobs11')}.*"
    # The dump stalls after its first part, as a slow server would, while the run is stopped.
    env["MONGODUMP_PATH"] = cut_mongodump(tmp_path, mongo_tools, "exec sleep 60")
    process = subprocess.Popen(
        [venv_script("backupnimbus"), "run", "--json", "--timestamp", AT],
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_an_uploaded_part(s3, bucket, process)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 1, stderr[-3000:]
    error = json.loads(stdout)["error"]
    assert_timed_out_cleanly(error, s3, bucket)
    assert error["message"] == "Stopped by SIGTERM before it finished"
    [mail] = moto_sent(ses_endpoint, "[BackupNimbus] Backup failed: sigterm")
    assert "TIMEOUT" in mail.body
    assert "Traceback" not in stderr
    MATRIX.record(
        "sigterm-cli",
        Row(
            fault="SIGTERM to `backupnimbus run` mid-upload, one part stored, the dump stalled",
            injected=1,
            expected="TIMEOUT, exit 1; mongodump stopped; upload aborted; failure e-mail",
            observed="exit 1, TIMEOUT (Stopped by SIGTERM); upload aborted; no object; failure "
            "e-mail sent",
            failed_cleanly=1,
            orphaned_uploads=open_uploads(s3, bucket),
        ),
    )
