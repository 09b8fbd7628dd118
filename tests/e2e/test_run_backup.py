"""RunBackup with fakes, and the retries of the adapters it relies on, against the real tools."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tenacity
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from pymongo import MongoClient

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.fake_archive import fake_archive
from backupnimbus.adapters.memory import FakeClock, FakeDumpRunner, InMemoryObjectStore
from backupnimbus.adapters.mongodump import MongodumpRunner
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.adapters.s3 import S3ObjectStore
from backupnimbus.adapters.s3_parts import PartSizer
from backupnimbus.domain.models import BackupRequest, SourceInfo
from backupnimbus.domain.run_backup import BackupSettings, RunBackup
from backupnimbus.errors import (
    ConfigInvalidError,
    DumpFailedError,
    ObjectExistsError,
    StorageFailedError,
)
from backupnimbus.ports.compressor import NONE, Compression
from backupnimbus.redaction import Redactor
from backupnimbus.stop_signal import StopSignal
from tests.support.servers import Secantus

MiB = 1024 * 1024
KEY = "backups/mongodb/2025/04/07/mongodb-20250407T101530Z.archive.gz"
NO_WAIT = RetryPolicy(wait=tenacity.wait_none())
ARCHIVE_MAGIC = bytes.fromhex("6de29981")


def _use_case(dumps: FakeDumpRunner, store: InMemoryObjectStore) -> RunBackup:
    settings = BackupSettings(
        prefix="backups/",
        source=SourceInfo(hosts=("db.example:27017",), database="shop"),
        tool_version="0.1.0",
    )
    return RunBackup(
        compressor=FastCompressor(), dumps=dumps, store=store, clock=FakeClock(), settings=settings
    )


def _run(dumps: FakeDumpRunner, store: InMemoryObjectStore) -> Any:
    return _use_case(dumps, store).run(request=BackupRequest(name="mongodb"))


# RunBackup with fakes


def test_success_stores_the_archive_then_a_manifest_that_vouches_for_it() -> None:
    data = fake_archive({"shop.users": 200}, padding=400)
    dumps = FakeDumpRunner(data=data, counts={"shop.users": 200})
    store = InMemoryObjectStore()

    result = _run(dumps, store)

    stored = store.objects[KEY]
    assert gzip.decompress(stored) == data, "a standard gzip stream of the dump's archive"
    assert store.committed == [KEY, KEY + ".manifest.json"], "the manifest must come last"
    manifest = json.loads(store.objects[KEY + ".manifest.json"])
    assert manifest["sha256"] == hashlib.sha256(stored).hexdigest()
    assert manifest["size"] == len(stored)
    assert manifest["key"] == KEY
    assert manifest["compressed"] is True
    assert manifest["compression"] == {"algorithm": "gzip", "level": 2}
    assert manifest["namespaces"] == {"shop.users": 200}
    assert manifest["mongodump_version"] == "fake-dump 1.0"
    assert manifest["source"] == {"hosts": ["db.example:27017"], "database": "shop"}
    assert manifest["started_at"] == "2025-04-07T10:15:30Z"
    assert manifest["duration_s"] > 0
    assert result.manifest_key == KEY + ".manifest.json"
    assert dumps.closed == dumps.starts == 1


def test_uncompressed_backup_at_a_given_time_lands_at_its_key() -> None:
    store = InMemoryObjectStore()
    at = datetime(2024, 12, 31, 23, 59, 58, tzinfo=UTC)

    _use_case(FakeDumpRunner(), store).run(
        request=BackupRequest(name="nightly", compression=Compression(NONE), timestamp=at)
    )

    key = "backups/nightly/2024/12/31/nightly-20241231T235958Z.archive"
    assert store.committed == [key, key + ".manifest.json"]
    assert json.loads(store.objects[key + ".manifest.json"])["compressed"] is False


def test_dump_that_fails_before_any_byte_stores_nothing() -> None:
    dumps = FakeDumpRunner(fail_to_start=1)
    store = InMemoryObjectStore()

    with pytest.raises(DumpFailedError):
        _run(dumps, store)

    assert store.objects == {}
    assert store.aborted == []


def test_dump_that_fails_midway_leaves_nothing_at_the_key() -> None:
    dumps = FakeDumpRunner(data=fake_archive({"db.coll": 100}, padding=400), fail_after=20_000)
    store = InMemoryObjectStore()

    with pytest.raises(DumpFailedError):
        _run(dumps, store)

    assert store.objects == {}, "neither a partial archive nor a manifest"
    assert store.aborted == [KEY]
    assert dumps.closed == 1


def test_upload_failure_stops_the_dump_and_reports_storage() -> None:
    dumps = FakeDumpRunner(data=fake_archive({"db.coll": 20}, padding=400))
    store = InMemoryObjectStore(fail_writes=1)

    with pytest.raises(StorageFailedError) as raised:
        _run(dumps, store)

    assert raised.value.code == "STORAGE_ERROR"
    assert dumps.closed == dumps.starts == 1, "the dump must be stopped, not left running"
    assert store.objects == {}


def test_manifest_failure_removes_the_archive() -> None:
    dumps = FakeDumpRunner(data=fake_archive({"db.coll": 20}, padding=400))
    store = InMemoryObjectStore(fail_put_bytes=1)

    with pytest.raises(StorageFailedError):
        _run(dumps, store)

    assert store.objects == {}, "an archive without its manifest must not pass for a backup"


def test_taken_key_fails_before_dumping_and_keeps_the_first_backup() -> None:
    store = InMemoryObjectStore(objects={KEY: b"the first backup"})
    dumps = FakeDumpRunner()

    with pytest.raises(ObjectExistsError) as raised:
        _run(dumps, store)

    assert raised.value.code == "ALREADY_EXISTS"
    assert dumps.starts == 0, "no dump may start for a key that is taken"
    assert store.objects == {KEY: b"the first backup"}


# MongodumpRunner retries, with the real mongodump behind a wrapper that fails on purpose


def _seed(secantus: Secantus, database: str) -> None:
    MongoClient[dict[str, Any]](secantus.uri)[database].things.insert_many(
        {"n": n} for n in range(50)
    )


def _executable(path: Path, script: str) -> str:
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _flaky_mongodump(tmp_path: Path, mongo_tools: Path, *, failures: int) -> tuple[str, Path]:
    """A mongodump that exits 1 without output on its first `failures` runs, then is real."""
    counter = tmp_path / "runs"
    counter.write_text("0")
    script = (
        f'n=$(($(cat "{counter}") + 1)); echo $n > "{counter}"\n'
        f'if [ $n -le {failures} ]; then echo "Failed: can\'t create session" >&2; exit 1; fi\n'
        f'exec "{mongo_tools / "mongodump"}" "$@"\n'
    )
    return _executable(tmp_path / "mongodump", script), counter


def _runner(executable: str, uri: str, database: str, retry: RetryPolicy) -> MongodumpRunner:
    return MongodumpRunner(
        executable=executable, uri=uri, ns_include=[f"{database}.*"], redactor=Redactor(),
        retry=retry,
    )  # fmt: skip


def _drain(dump: Any) -> bytes:
    return b"".join(iter(lambda: dump.read(64 * 1024), b""))


def _retry_attempts(caplog: pytest.LogCaptureFixture, what: str) -> list[int]:
    return [
        record.attempt  # type: ignore[attr-defined]
        for record in caplog.records
        if record.getMessage() == f"{what} failed, retrying"
    ]


def test_dump_that_exits_before_writing_is_run_again(
    secantus: Secantus, database: str, mongo_tools: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    MongoClient[dict[str, Any]](secantus.uri)[database].things.insert_many(
        {"n": n} for n in range(50)
    )
    executable, runs = _flaky_mongodump(tmp_path, mongo_tools, failures=2)
    runner = _runner(executable, secantus.uri, database, NO_WAIT)
    caplog.set_level(logging.WARNING, logger="backupnimbus")

    with runner.open_dump(stop=StopSignal()) as dump:
        archive = _drain(dump)
        counts = dump.namespaces()

    assert runs.read_text().strip() == "3"
    assert archive.startswith(ARCHIVE_MAGIC)
    assert counts == {f"{database}.things": 50}
    assert _retry_attempts(caplog, "mongodump") == [1, 2]


def test_dump_that_never_starts_gives_up_after_the_policy_attempts(
    secantus: Secantus, database: str, mongo_tools: Path, tmp_path: Path
) -> None:
    executable, runs = _flaky_mongodump(tmp_path, mongo_tools, failures=100)
    runner = _runner(executable, secantus.uri, database, RetryPolicy(attempts=3, wait=NO_WAIT.wait))

    with (
        pytest.raises(DumpFailedError) as raised,
        runner.open_dump(stop=StopSignal()),
    ):
        pass

    assert runs.read_text().strip() == "3"
    assert raised.value.details["exit_code"] == 1
    assert any("can't create session" in line for line in raised.value.details["stderr_tail"])


def test_uri_that_mongodump_rejects_is_a_config_error_never_retried(
    mongo_tools: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    executable, runs = _flaky_mongodump(tmp_path, mongo_tools, failures=0)
    runner = _runner(executable, "mongodb://127.0.0.1:notaport/", "shop", NO_WAIT)
    caplog.set_level(logging.WARNING, logger="backupnimbus")

    with (
        pytest.raises(ConfigInvalidError) as raised,
        runner.open_dump(stop=StopSignal()),
    ):
        pass

    assert runs.read_text().strip() == "1"
    assert raised.value.exit_code == 2
    assert "MONGO_URI" in raised.value.message
    assert "port must be an integer" in raised.value.message
    assert _retry_attempts(caplog, "mongodump") == []


def test_dump_that_fails_after_writing_is_not_run_again(
    secantus: Secantus, database: str, mongo_tools: Path, tmp_path: Path
) -> None:
    MongoClient[dict[str, Any]](secantus.uri)[database].things.insert_many(
        {"n": n} for n in range(50)
    )
    counter = tmp_path / "runs"
    executable = _executable(
        tmp_path / "mongodump",
        f'echo run >> "{counter}"\n"{mongo_tools / "mongodump"}" "$@" | head -c 100\nexit 3\n',
    )
    runner = _runner(executable, secantus.uri, database, NO_WAIT)

    with (
        runner.open_dump(stop=StopSignal()) as dump,
        pytest.raises(DumpFailedError) as raised,
    ):
        _drain(dump)

    assert counter.read_text().splitlines() == ["run"]
    assert raised.value.details["exit_code"] == 3


# S3 part uploads that fail at the client's edge


def _slow_down_first(s3: Any, failures: int) -> dict[int, int]:
    """Answers the first `failures` UploadPart calls of each part with 503 SlowDown."""
    calls: dict[int, int] = {}
    lock = threading.Lock()

    def answer(params: dict[str, Any], **_: Any) -> Any:
        number = int(params["query_string"]["partNumber"])
        with lock:
            calls[number] = calls.get(number, 0) + 1
            if calls[number] > failures:
                return None
        error = {"Code": "SlowDown", "Message": "Please reduce your request rate."}
        response = {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 503}}
        return AWSResponse(params["url"], 503, HTTPHeaders(), None), response

    s3.meta.events.register("before-call.s3.UploadPart", answer)
    return calls


def _s3_store(s3: Any, bucket: str, retry: RetryPolicy = NO_WAIT) -> S3ObjectStore:
    return S3ObjectStore(client=s3, bucket=bucket, retry=retry, part_sizer=PartSizer(5 * MiB))


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def read(self, size: int, /) -> bytes:
        chunk = self._data[self._at : self._at + size]
        self._at += len(chunk)
        return chunk


def test_part_upload_retries_through_slowdowns(
    s3: Any, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    calls = _slow_down_first(s3, failures=2)
    data = os.urandom(12 * MiB)
    caplog.set_level(logging.WARNING, logger="backupnimbus")

    _s3_store(s3, bucket).put_stream(key=KEY, stream=_Bytes(data))

    assert s3.get_object(Bucket=bucket, Key=KEY)["Body"].read() == data
    assert calls == {1: 3, 2: 3, 3: 3}
    assert sorted(_retry_attempts(caplog, "UploadPart")) == [1, 1, 1, 2, 2, 2]
    retries = [r for r in caplog.records if r.getMessage() == "UploadPart failed, retrying"]
    assert {(r.max_attempts, r.error) for r in retries} == {(5, "ClientError")}  # type: ignore[attr-defined]


def test_part_upload_that_keeps_failing_aborts_and_leaves_nothing(s3: Any, bucket: str) -> None:
    calls = _slow_down_first(s3, failures=1_000)
    store = _s3_store(s3, bucket, RetryPolicy(attempts=4, wait=tenacity.wait_none()))

    with pytest.raises(StorageFailedError) as raised:
        store.put_stream(key=KEY, stream=_Bytes(os.urandom(12 * MiB)))

    assert raised.value.details["operation"] == "UploadPart"
    assert raised.value.details["reason"] == "SlowDown"
    assert calls[1] == 4
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []
