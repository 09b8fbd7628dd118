"""Consistent snapshots: `mongodump --oplog` on a replica set, the oplog's window in the manifest,
and `restore --oplog-replay`, on SecantusDB (a single-node replica set, setName "secantus").

Whole-deployment dumps run against a SecantusDB of their own: the shared one holds every other
test's databases.
"""

from __future__ import annotations

import gzip
import io
import json
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import pytest
from pymongo import MongoClient

from backupnimbus.adapters.mongodump import MongodumpRunner
from backupnimbus.adapters.retrying import RetryPolicy
from backupnimbus.domain.archive import read_archive
from backupnimbus.domain.manifest_codec import decode_manifest, encode_manifest
from backupnimbus.domain.models import Manifest, SourceInfo
from backupnimbus.domain.oplog import OplogTimestamp, OplogWindow
from backupnimbus.errors import DumpFailedError
from backupnimbus.redaction import Redactor
from backupnimbus.stop_signal import StopSignal
from tests.support.cli import b64, run_cli
from tests.support.servers import Secantus, free_port, start_secantus
from tests.support.testdata import TESTDATA

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _manifest(**fields: Any) -> Manifest:
    return Manifest(
        name="m", key="backups/m/x.archive.gz", size=1, sha256="0" * 64, compressed=True,
        encrypted=False, started_at=T0, finished_at=T0, mongodump_version="100.0",
        tool_version="1.0", source=SourceInfo(hosts=("h:1",)), **fields,
    )  # fmt: skip


def test_the_manifest_keeps_the_oplog_window_and_old_manifests_still_decode() -> None:
    window = OplogWindow(
        entries=3, first_ts=OplogTimestamp(t=1_700_000_000, i=1),
        last_ts=OplogTimestamp(t=1_700_000_009, i=4),
    )  # fmt: skip
    with_oplog = _manifest(oplog=window, consistent_at=window.consistent_at)

    document = json.loads(encode_manifest(with_oplog))

    assert document["oplog"] == {"entries": 3, "first_ts": {"t": 1_700_000_000, "i": 1},
                                 "last_ts": {"t": 1_700_000_009, "i": 4}}  # fmt: skip
    assert document["consistent_at"] == "2023-11-14T22:13:29Z"
    assert decode_manifest(encode_manifest(with_oplog)) == with_oplog
    # A manifest written before the oplog was recorded, or of a dump without one.
    old = json.loads(encode_manifest(_manifest()))
    assert "oplog" not in old
    assert "consistent_at" not in old
    decoded = decode_manifest(json.dumps(old).encode())
    assert decoded.oplog is None
    assert decoded.consistent_at is None


# -- on the real peers ---------------------------------------------------------------------------


@pytest.fixture
def own_secantus(tmp_path: Path) -> Iterator[Secantus]:
    server = start_secantus(tmp_path / "own-secantus")
    yield server
    server.stop()


def _mongodump_recorder(mongo_tools: Path, tmp_path: Path) -> tuple[Path, Path]:
    recorded = tmp_path / "mongodump-argv.txt"
    wrapper = tmp_path / "mongodump"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > "{recorded}"\nexec "{mongo_tools / "mongodump"}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, recorded


def _backup(env: dict[str, str]) -> dict[str, Any]:
    completed = run_cli(["run", "--json"], env)
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def _stored(s3: Any, bucket: str, key: str) -> tuple[bytes, dict[str, Any]]:
    archive = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}.manifest.json")["Body"].read())
    return gzip.decompress(archive), manifest


def _oplog_entries(archive: bytes) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []

    def visit(namespace: str, run: memoryview, count: int) -> None:
        if namespace == ".oplog":
            entries.extend(bson.decode_all(bytes(run)))

    read_archive(io.BytesIO(archive), visit=visit)
    return entries


class _Writer(threading.Thread):
    """Inserts a document and updates the previous one, again and again, until stopped."""

    def __init__(self, uri: str) -> None:
        super().__init__(name="steady-writer", daemon=True)
        self._client: MongoClient[Any] = MongoClient(uri)
        self.stop_event = threading.Event()
        self.writes = 0

    def run(self) -> None:
        live = self._client.shop.live
        n = 0
        while not self.stop_event.is_set():
            live.insert_one({"_id": n, "written_at": time.time()})
            if n:
                live.update_one({"_id": n - 1}, {"$set": {"updated": True}})
            n += 1
            self.writes += 2
            time.sleep(0.002)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)
        self._client.close()


@pytest.mark.e2e
def test_a_dump_during_steady_writes_holds_them_in_its_oplog_and_window(
    own_secantus: Secantus, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    client: MongoClient[Any] = MongoClient(own_secantus.uri)
    client.shop.orders.insert_many({"n": n, "pad": "x" * 200} for n in range(20_000))
    env = {**backup_env, "MONGO_URI": b64(own_secantus.uri), "MONGODUMP_OPLOG": "true"}
    writer = _Writer(own_secantus.uri)
    writer.start()
    try:
        while writer.writes < 20:
            time.sleep(0.01)
        before = writer.writes
        result = _backup(env)
        during = writer.writes - before
    finally:
        writer.finish()

    assert during > 0, "the writer kept writing while the backup ran"
    archive, manifest = _stored(s3, bucket, result["key"])
    entries = _oplog_entries(archive)
    ours = [e for e in entries if e.get("ns") == "shop.live"]
    assert {e["op"] for e in ours} >= {"i", "u"}, "inserts and updates made during the dump"
    stamps = [e["ts"] for e in entries]
    assert manifest["oplog"]["entries"] == len(entries)
    first, last = manifest["oplog"]["first_ts"], manifest["oplog"]["last_ts"]
    assert (first["t"], first["i"]) == (min(stamps).time, min(stamps).inc)
    assert (last["t"], last["i"]) == (max(stamps).time, max(stamps).inc)
    window = (first["t"], first["i"]), (last["t"], last["i"])
    assert all(window[0] <= (e["ts"].time, e["ts"].inc) <= window[1] for e in ours)
    consistent_at = datetime.fromisoformat(manifest["consistent_at"])
    assert consistent_at == max(stamps).as_datetime()
    started = datetime.fromisoformat(manifest["started_at"])
    finished = datetime.fromisoformat(manifest["finished_at"])
    assert started.replace(microsecond=0) <= consistent_at <= finished
    # verify prints the window and the time it is consistent to.
    verified = run_cli(["verify", result["key"], "--json"], env)
    assert verified.returncode == 0, verified.stderr
    document = json.loads(verified.stdout)
    assert document["oplog"] == manifest["oplog"]
    assert datetime.fromisoformat(document["consistent_at"]) == consistent_at
    text = run_cli(["verify", result["key"]], env)
    assert f"oplog     {len(entries)} entries" in text.stdout
    assert f"consistent at {document['consistent_at']}" in text.stdout


@pytest.mark.e2e
def test_auto_dumps_a_whole_replica_set_with_oplog_and_a_filtered_one_without(
    own_secantus: Secantus, backup_env: dict[str, str], s3: Any, bucket: str,
    mongo_tools: Path, tmp_path: Path,
) -> None:  # fmt: skip
    MongoClient(own_secantus.uri).shop.orders.insert_many({"n": n} for n in range(100))
    wrapper, recorded = _mongodump_recorder(mongo_tools, tmp_path)
    env = {**backup_env, "MONGO_URI": b64(own_secantus.uri), "MONGODUMP_PATH": str(wrapper)}
    assert "MONGODUMP_OPLOG" not in env, "auto is the default"

    whole = _backup({**env, "BACKUP_NAME": "whole"})
    whole_argv = recorded.read_text().splitlines()
    filtered = _backup({**env, "BACKUP_NAME": "filtered", "MONGODUMP_NS_INCLUDE": "shop.*"})
    filtered_argv = recorded.read_text().splitlines()

    assert "--oplog" in whole_argv
    whole_manifest = _stored(s3, bucket, whole["key"])[1]
    assert "oplog" in whole_manifest, "the archive holds an oplog section"
    assert "--oplog" not in filtered_argv
    assert "--db=shop" in filtered_argv
    manifest = _stored(s3, bucket, filtered["key"])[1]
    # Nothing listens on port 1: reaching mongorestore would end as a RESTORE_ERROR.
    replay = run_cli(["restore", filtered["key"], "--oplog-replay", "--json"],
                     {**env, "RESTORE_TARGET_URI": b64("mongodb://127.0.0.1:1/")})  # fmt: skip
    assert replay.returncode == 2, replay.stderr
    assert "holds no oplog" in json.loads(replay.stdout)["error"]["message"]
    assert "oplog" not in manifest
    assert "consistent_at" not in manifest


@pytest.mark.e2e
def test_oplog_replay_reaches_mongorestore_and_secantus_has_no_applyops(
    own_secantus: Secantus, backup_env: dict[str, str], tmp_path: Path
) -> None:
    MongoClient(own_secantus.uri).shop.orders.insert_many({"n": n} for n in range(100))
    key = _backup({**backup_env, "MONGO_URI": b64(own_secantus.uri)})["key"]
    target = start_secantus(tmp_path / "target")
    try:
        target_client: MongoClient[Any] = MongoClient(target.uri)
        before = sorted(target_client.list_database_names())
        env = {**backup_env, "RESTORE_TARGET_URI": b64(target.uri)}

        renamed = run_cli(["restore", key, "--oplog-replay", "--ns-from", "shop.*",
                           "--ns-to", "copy.*", "--json"], env)  # fmt: skip
        assert renamed.returncode == 2, renamed.stderr
        error = json.loads(renamed.stdout)["error"]
        assert error["code"] == "CONFIG_ERROR"  # a usage error: exit 2
        assert "--oplog-replay cannot be combined with --ns-from/--ns-to" in error["message"]
        assert sorted(target_client.list_database_names()) == before, "the target is untouched"

        dry = run_cli(["restore", key, "--oplog-replay", "--dry-run", "--json"], env)
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["oplog_replay"] is True
        dry_text = run_cli(["restore", key, "--oplog-replay", "--dry-run"], env)
        assert "oplog  would be replayed" in dry_text.stdout
        no_replay = run_cli(["restore", key, "--dry-run"], env)
        assert "oplog  would not be replayed" in no_replay.stdout

        replayed = run_cli(["restore", key, "--oplog-replay", "--json"], env)
    finally:
        target.stop()

    # SecantusDB has no applyOps command, which mongorestore replays the oplog with: this is
    # the peer's limit, not BackupNimbus's. A MongoDB replica set replays it.
    assert replayed.returncode == 1, replayed.stderr
    error = json.loads(replayed.stdout)["error"]
    assert error["code"] == "RESTORE_ERROR"
    assert "applyOps" in error["message"]


def test_oplog_replay_with_includes_is_refused_before_the_target_is_reached(
    tmp_path: Path,
) -> None:
    archive = TESTDATA / "mongo-tools" / "mongorestore__dump-w-oplog.archive"
    # Nothing listens on port 1: reaching mongorestore would end as a RESTORE_ERROR.
    env = {"RESTORE_TARGET_URI": b64("mongodb://127.0.0.1:1/"), "STORAGE_BACKEND": "local",
           "LOCAL_BACKUP_DIR": str(tmp_path)}  # fmt: skip

    completed = run_cli(["restore", "--file", str(archive), "--oplog-replay",
                         "--ns-include", "test.*", "--json"], env)  # fmt: skip

    assert completed.returncode == 2, completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    assert "--oplog-replay cannot be combined with --ns-include" in error["message"]


@pytest.fixture
def auth_secantus(tmp_path: Path) -> Iterator[Secantus]:
    """A SecantusDB of its own that enforces SCRAM logins, with the user backup/right-pw-62."""
    storage = tmp_path / "secantus-auth"
    open_server = start_secantus(storage)
    MongoClient[dict[str, Any]](open_server.uri).admin.command(
        "createUser", "backup", pwd="right-pw-62", roles=["root"]
    )
    open_server.stop()
    server = start_secantus(storage, "--auth")
    yield server
    server.stop()


def _auto_runner(tool: Path, uri: str, budget_s: float = 30.0) -> MongodumpRunner:
    return MongodumpRunner(
        executable=str(tool), uri=uri, redactor=Redactor(), retry=RetryPolicy(attempts=5),
        connect_timeout_s=budget_s, oplog="auto",
    )  # fmt: skip


@pytest.mark.e2e
def test_auto_asks_the_source_with_the_uris_credentials_and_never_logs_them(
    auth_secantus: Secantus, mongo_tools: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrapper, recorded = _mongodump_recorder(mongo_tools, tmp_path)
    caplog.set_level("DEBUG")
    good = f"mongodb://backup:right-pw-62@127.0.0.1:{auth_secantus.port}/?authSource=admin"
    bad = good.replace("right-pw-62", "wrong-pw-63")

    with _auto_runner(wrapper, good).open_dump(stop=StopSignal()) as dump:
        summary = read_archive(dump)
    assert "--oplog" in recorded.read_text().splitlines()
    assert summary.oplog is not None
    recorded.unlink()
    with (
        pytest.raises(DumpFailedError) as raised,
        _auto_runner(wrapper, bad).open_dump(stop=StopSignal()),
    ):
        pass

    assert "could not log in" in raised.value.message
    assert not recorded.exists(), "a refused login is not retried, and mongodump never starts"
    for password in ("right-pw-62", "wrong-pw-63"):
        assert password not in raised.value.message
        assert password not in caplog.text


@pytest.mark.e2e
def test_auto_against_a_closed_port_fails_within_the_connect_budget(mongo_tools: Path) -> None:
    uri = f"mongodb://backup:Pa55-word-64@127.0.0.1:{free_port()}/"
    started = time.monotonic()

    with (
        pytest.raises(DumpFailedError) as raised,
        _auto_runner(mongo_tools / "mongodump", uri, budget_s=3.0).open_dump(stop=StopSignal()),
    ):
        pass

    elapsed = time.monotonic() - started
    # The tries share the budget (5 tries of their own would take 15 s); slack for a loaded machine.
    assert elapsed < 3.0 + 8, "the probe's tries share the connect budget"
    assert "replica set" in raised.value.message
    assert "connection refused" in raised.value.message.lower()
    assert "Pa55-word-64" not in raised.value.message
