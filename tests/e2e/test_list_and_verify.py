"""`list` and `verify`: the use case on fakes, then the real CLI against SecantusDB and moto."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.memory import InMemoryObjectStore
from backupnimbus.domain.keys import archive_key, manifest_key
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.manifest_codec import encode_manifest
from backupnimbus.domain.models import Manifest, SourceInfo
from backupnimbus.domain.verify_backup import VerificationReport, VerifyBackup, VerifyFromKey
from backupnimbus.errors import BackupNotFoundError, VerificationFailedError
from backupnimbus.ports.compressor import GZIP
from tests.support.cli import b64, run_cli
from tests.support.servers import Secantus
from tests.support.testdata import TESTDATA

MULTI_DB = TESTDATA / "mongodump-100.8.0__multi-db.archive"
MULTI_DB_GZ = TESTDATA / "mongodump-100.8.0__multi-db.archive.gz"
MULTI_DB_COUNTS = {"shop.orders": 5000, "shop.users": 200, "analytics.events_2025": 300}
AT = datetime(2025, 4, 7, 10, 15, 30, tzinfo=UTC)


# -- the use case, on the in-memory store --------------------------------------------------


def stored(
    data: bytes, *, namespaces: dict[str, int] | None = None, manifest_sha: str | None = None
) -> tuple[InMemoryObjectStore, str]:
    key = archive_key(prefix="backups/", name="mongodb", at=AT, compression=GZIP)
    manifest = Manifest(
        name="mongodb", key=key, size=len(data),
        sha256=manifest_sha or hashlib.sha256(data).hexdigest(), compressed=True,
        encrypted=False, started_at=AT, finished_at=AT, mongodump_version="100.8.0",
        tool_version="0.1.0", source=SourceInfo(hosts=("db:27017",)), namespaces=namespaces,
    )  # fmt: skip
    store = InMemoryObjectStore()
    store.put_bytes(key=key, data=data)
    store.put_bytes(key=manifest_key(key), data=encode_manifest(manifest))
    return store, key


def verify(store: InMemoryObjectStore, key: str) -> VerificationReport:
    backups = ListBackups(store=store, prefix="backups/")
    use_case = VerifyBackup(compressor=FastCompressor(), store=store, backups=backups)
    return use_case.run(request=VerifyFromKey(key=key))


def test_intact_backup_is_verified_with_its_counts() -> None:
    data = MULTI_DB_GZ.read_bytes()
    store, key = stored(data, namespaces=MULTI_DB_COUNTS)

    report = verify(store, key)

    assert report.checked.sha256 == hashlib.sha256(data).hexdigest()
    assert report.checked.size == len(data)
    assert report.checked.archive.counts == MULTI_DB_COUNTS
    assert report.checked.compression == "gzip"


def test_backup_without_manifest_is_incomplete() -> None:
    store, key = stored(MULTI_DB_GZ.read_bytes())
    store.delete(key=manifest_key(key))

    with pytest.raises(VerificationFailedError, match="incomplete") as caught:
        verify(store, key)

    assert caught.value.details["reason"] == "incomplete"


def test_missing_backup_is_not_found() -> None:
    with pytest.raises(BackupNotFoundError):
        verify(InMemoryObjectStore(), "backups/x/2025/04/07/x.archive.gz")


def test_an_encrypted_backup_without_an_identity_fails_verification() -> None:
    data = b"age-encryption.org/v1\n"
    key = archive_key(prefix="backups/", name="mongodb", at=AT, compression=GZIP, encrypted=True)
    manifest = Manifest(
        name="mongodb", key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        compressed=True, encrypted=True, started_at=AT, finished_at=AT,
        mongodump_version="100.8.0", tool_version="0.1.0", source=SourceInfo(hosts=("db:27017",)),
    )  # fmt: skip
    store = InMemoryObjectStore()
    store.put_bytes(key=key, data=data)
    store.put_bytes(key=manifest_key(key), data=encode_manifest(manifest))

    with pytest.raises(VerificationFailedError, match="AGE_IDENTITY_FILE"):
        verify(store, key)


def test_changed_bytes_report_both_the_sha256_and_the_archive_damage() -> None:
    data = bytearray(MULTI_DB.read_bytes())
    original_sha = hashlib.sha256(data).hexdigest()
    data[len(data) // 2] ^= 0xFF
    store, key = stored(bytes(data), manifest_sha=original_sha)

    with pytest.raises(VerificationFailedError, match="sha256 mismatch") as caught:
        verify(store, key)

    details = caught.value.details
    assert details["expected"]["sha256"] == original_sha
    assert details["actual"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert "CRC mismatch in namespace 'shop.orders'" in details["archive"]["reason"]


def test_a_broken_archive_fails_even_when_its_manifest_matches() -> None:
    store, key = stored(MULTI_DB.read_bytes()[:-100])

    with pytest.raises(VerificationFailedError, match="truncated") as caught:
        verify(store, key)

    assert caught.value.details["problems"] == []
    assert caught.value.details["archive"]["reason"].startswith("truncated")


def test_counts_that_differ_from_the_manifest_fail() -> None:
    store, key = stored(MULTI_DB_GZ.read_bytes(), namespaces={**MULTI_DB_COUNTS, "shop.users": 7})

    with pytest.raises(VerificationFailedError, match=r"shop\.users: 200 documents in the archive"):
        verify(store, key)


# -- the CLI, end to end -------------------------------------------------------------------


def mongo(server: Secantus) -> MongoClient[dict[str, Any]]:
    return MongoClient(server.uri)


def without_mongo(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != "MONGO_URI"}


def back_up(env: dict[str, str], *args: str) -> dict[str, Any]:
    completed = run_cli(["run", "--json", *args], env)
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@pytest.mark.e2e
def test_verify_latest_reports_the_counts_of_a_fresh_backup(
    secantus: Secantus, database: str, backup_env: dict[str, str]
) -> None:
    client = mongo(secantus)
    client[database].things.insert_many({"n": n, "text": "x" * n} for n in range(500))
    client[database].others.insert_many({"n": n} for n in range(30))
    client[database].create_collection("empty")
    backup = back_up({**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"})

    completed = run_cli(["verify", "--latest", "--json"], without_mongo(backup_env))
    text = run_cli(["verify", backup["key"]], without_mongo(backup_env))

    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["key"] == backup["key"]
    assert report["sha256"] == report["manifest_sha256"] == backup["sha256"]
    assert report["size"] == backup["size"]
    assert report["compressed"] is True
    assert {ns: s["documents"] for ns, s in report["namespaces"].items()} == {
        f"{database}.things": 500, f"{database}.others": 30, f"{database}.empty": 0,
    }  # fmt: skip
    assert all(s["crc_ok"] for s in report["namespaces"].values())
    things = next(e for e in report["prelude"] if e["namespace"] == f"{database}.things")
    assert things["indexes"] == ["_id_"]
    assert text.returncode == 0, text.stderr
    assert f"Verified: {backup['key']}" in text.stdout
    assert f"{database}.things" in text.stdout


@pytest.mark.e2e
def test_verify_reports_a_changed_byte_with_exit_1(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    mongo(secantus)[database].things.insert_many(
        {"n": n, "marker": f"needle-{n:05d}"} for n in range(300)
    )
    backup = back_up({**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"}, "--no-compress")
    data = bytearray(s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read())
    at = data.index(b"needle-00150") + 3
    data[at] ^= 0x01
    s3.put_object(Bucket=bucket, Key=backup["key"], Body=bytes(data))

    completed = run_cli(["verify", backup["key"], "--json"], without_mongo(backup_env))

    assert completed.returncode == 1, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "VERIFY_ERROR"
    assert "sha256 mismatch" in error["message"]
    assert error["details"]["expected"]["sha256"] == backup["sha256"]
    assert error["details"]["actual"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert f"CRC mismatch in namespace '{database}.things'" in error["details"]["archive"]["reason"]


@pytest.mark.e2e
def test_verify_reports_a_changed_byte_in_a_gzipped_backup(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    mongo(secantus)[database].things.insert_many({"n": n} for n in range(200))
    backup = back_up({**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"})
    data = bytearray(s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3.put_object(Bucket=bucket, Key=backup["key"], Body=bytes(data))

    completed = run_cli(["verify", "--latest", "--json"], without_mongo(backup_env))

    assert completed.returncode == 1, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "VERIFY_ERROR"
    assert "sha256 mismatch" in error["message"]
    assert error["details"]["actual"]["size"] == backup["size"]


@pytest.mark.e2e
def test_list_shows_complete_and_incomplete_backups(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    mongo(secantus)[database].things.insert_many({"n": n} for n in range(50))
    ns_env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"}
    complete = back_up(ns_env)
    other_set = back_up({**ns_env, "BACKUP_NAME": "other"})
    # A newer archive whose upload never finished: no manifest beside it.
    later = datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)
    unfinished = archive_key(prefix="backups/", name="mongodb", at=later, compression=GZIP)
    s3.put_object(Bucket=bucket, Key=unfinished, Body=MULTI_DB_GZ.read_bytes())
    env = without_mongo(backup_env)

    listed = run_cli(["list", "--all-sets", "--json"], env)
    named = run_cli(["list", "--json"], env)  # BACKUP_NAME's set, mongodb by default
    table = run_cli(["list"], env)
    latest = run_cli(["verify", "--latest", "--json"], env)
    incomplete = run_cli(["verify", unfinished, "--json"], env)

    assert listed.returncode == 0, listed.stderr
    backups = json.loads(listed.stdout)["backups"]
    assert {b["key"] for b in backups} == {complete["key"], other_set["key"], unfinished}
    assert backups[0]["key"] == unfinished
    assert (backups[0]["status"], backups[0]["complete"], backups[0]["sha256"]) == (
        "incomplete", False, None,
    )  # fmt: skip
    mine = next(b for b in backups if b["key"] == complete["key"])
    assert mine == {
        "name": "mongodb", "timestamp": mine["timestamp"], "key": complete["key"],
        "size": complete["size"], "sha256": complete["sha256"], "compressed": True,
        "compression": "gzip",
        "encrypted": False, "complete": True, "status": "complete", "problem": None,
        "warnings": [], "namespaces": {f"{database}.things": 50},
        "format": "mongodump-archive",
    }  # fmt: skip
    assert [b["key"] for b in json.loads(named.stdout)["backups"]] == [unfinished, complete["key"]]
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "TIMESTAMP", "SIZE"]
    assert "incomplete" in lines[1]
    assert unfinished in lines[1]
    assert any(complete["key"] in line and complete["sha256"][:12] in line for line in lines)
    assert latest.returncode == 0, latest.stdout
    assert json.loads(latest.stdout)["key"] == complete["key"]
    assert incomplete.returncode == 1
    assert json.loads(incomplete.stdout)["error"]["details"]["reason"] == "incomplete"


@pytest.mark.e2e
def test_verify_file_needs_no_mongo_and_no_bucket(tmp_path: Path) -> None:
    env = {"LOCAL_BACKUP_DIR": str(tmp_path / "none")}

    good = run_cli(["verify", "--file", str(MULTI_DB_GZ), "--json"], env)
    text = run_cli(["verify", "--file", str(MULTI_DB)], env)
    bad = run_cli(
        ["verify", "--file", str(TESTDATA / "mongo-tools/mongorestore__bad-format.archive"),
         "--json"], env,
    )  # fmt: skip
    missing = run_cli(["verify", "--file", str(tmp_path / "nope.archive")], env)

    assert good.returncode == 0, good.stdout + good.stderr
    report = json.loads(good.stdout)
    assert report["sha256"] == hashlib.sha256(MULTI_DB_GZ.read_bytes()).hexdigest()
    assert report["size"] == MULTI_DB_GZ.stat().st_size
    assert report["archive"]["bytes"] == MULTI_DB.stat().st_size
    assert {ns: s["documents"] for ns, s in report["namespaces"].items()} == MULTI_DB_COUNTS
    assert text.returncode == 0, text.stderr
    assert "5,000 documents" in text.stdout
    assert bad.returncode == 1
    assert "invalid prelude JSON" in json.loads(bad.stdout)["error"]["details"]["reason"]
    assert missing.returncode == 2
    assert "nope.archive" in missing.stderr
    assert "Traceback" not in good.stderr + bad.stderr + missing.stderr


# -- unusable manifests and partial backups ------------------------------------------------


def _rewrite_manifest(store: InMemoryObjectStore, key: str, edit: Any) -> None:
    with store.open_read(key=manifest_key(key)) as stream:
        document = json.loads(stream.read())
    store.delete(key=manifest_key(key))
    store.put_bytes(key=manifest_key(key), data=edit(document))


BROKEN_MANIFESTS = {
    "namespaces is a number": (
        lambda d: json.dumps({**d, "namespaces": 5}).encode(),
        "@ $.namespaces",
    ),
    "a renamed field": (
        lambda d: json.dumps(
            {**{k: v for k, v in d.items() if k != "sha256"}, "sha_256": d["sha256"]}
        ).encode(),
        "sha256",
    ),
    "not JSON": (lambda d: b'{"name": "mongodb", ', "not JSON"),
    "another archive's": (
        lambda d: json.dumps({**d, "key": d["key"].replace("2025", "2024")}).encode(),
        "the manifest describes backups/mongodb/2024/",
    ),
}


@pytest.mark.parametrize("broken", BROKEN_MANIFESTS, ids=list(BROKEN_MANIFESTS))
def test_list_verify_and_restore_say_the_same_about_an_unusable_manifest(broken: str) -> None:
    from backupnimbus.domain.list_backups import UNREADABLE, ListBackups
    from backupnimbus.domain.restore_backup import RestoreBackup, RestoreFromKey

    edit, reason = BROKEN_MANIFESTS[broken]
    store, key = stored(MULTI_DB_GZ.read_bytes(), namespaces=MULTI_DB_COUNTS)
    _rewrite_manifest(store, key, edit)
    backups = ListBackups(store=store, prefix="backups/")

    [record] = backups.run()
    with pytest.raises(VerificationFailedError) as verified:
        verify(store, key)
    with pytest.raises(VerificationFailedError) as restored:
        RestoreBackup(compressor=FastCompressor(), store=store, backups=backups, restorer=None).run(  # type: ignore[arg-type]
            request=RestoreFromKey(key=key)
        )

    assert record.state == UNREADABLE
    assert reason in (record.manifest_problem or "")
    for caught in (verified, restored):
        assert caught.value.details["reason"] == "unreadable"
        assert caught.value.details["problem"] == record.manifest_problem
        assert caught.value.message == (
            f"Backup {key} is unreadable: {record.manifest_problem}; nothing vouches for it, "
            "so it is neither verified nor restored"
        )


def test_a_missing_manifest_has_one_wording_in_verify_and_restore() -> None:
    from backupnimbus.domain.list_backups import ListBackups
    from backupnimbus.domain.restore_backup import RestoreBackup, RestoreFromKey

    store, key = stored(MULTI_DB_GZ.read_bytes())
    store.delete(key=manifest_key(key))
    backups = ListBackups(store=store, prefix="backups/")

    with pytest.raises(VerificationFailedError) as verified:
        verify(store, key)
    with pytest.raises(VerificationFailedError) as restored:
        RestoreBackup(compressor=FastCompressor(), store=store, backups=backups, restorer=None).run(  # type: ignore[arg-type]
            request=RestoreFromKey(key=key)
        )

    assert verified.value.message == restored.value.message
    assert verified.value.message.startswith(f"Backup {key} is incomplete: it has no manifest")


def test_a_manifest_namespace_missing_from_the_archive_fails() -> None:
    store, key = stored(
        MULTI_DB_GZ.read_bytes(), namespaces={**MULTI_DB_COUNTS, "shop.refunds": 12}
    )

    with pytest.raises(VerificationFailedError, match=r"shop\.refunds: in the manifest") as caught:
        verify(store, key)

    assert caught.value.details["namespaces"] == [
        {"namespace": "shop.refunds", "manifest": 12, "archive": None,
         "problem": "shop.refunds: in the manifest (12 documents), not in the archive"},
    ]  # fmt: skip


def test_an_archive_namespace_missing_from_the_manifest_fails() -> None:
    listed = {ns: n for ns, n in MULTI_DB_COUNTS.items() if ns != "analytics.events_2025"}
    store, key = stored(MULTI_DB_GZ.read_bytes(), namespaces=listed)

    with pytest.raises(VerificationFailedError, match="not in the manifest") as caught:
        verify(store, key)

    assert [p["namespace"] for p in caught.value.details["namespaces"]] == ["analytics.events_2025"]
    assert caught.value.details["namespaces"][0]["archive"] == 300


def test_a_manifest_without_namespaces_relies_on_the_archive_walk() -> None:
    store, key = stored(MULTI_DB_GZ.read_bytes(), namespaces=None)

    report = verify(store, key)

    assert report.checked.archive.counts == MULTI_DB_COUNTS


def _copy_backup(s3: Any, bucket: str, backup: dict[str, Any], at: datetime, **changes: Any) -> str:
    """Stores the backup's archive again at the key of time `at`, with its manifest rewritten
    for that key and then changed by `changes` (a callable value rewrites the whole bytes)."""
    key = archive_key(prefix="backups/", name="mongodb", at=at, compression=GZIP)
    body = s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read()
    document = json.loads(s3.get_object(Bucket=bucket, Key=backup["manifest_key"])["Body"].read())
    document = {**document, "key": key, **{k: v for k, v in changes.items() if k != "raw"}}
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    raw = changes.get("raw")
    s3.put_object(
        Bucket=bucket, Key=manifest_key(key),
        Body=raw(document) if raw else json.dumps(document).encode(),
    )  # fmt: skip
    return key


@pytest.mark.e2e
def test_unreadable_and_partial_backups_in_list_verify_and_restore(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    mongo(secantus)[database].things.insert_many({"n": n} for n in range(40))
    good = back_up({**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"})
    late = "2099-01-01T00:00:00Z"
    bad_namespaces = _copy_backup(
        s3, bucket, good, datetime(2098, 1, 1, tzinfo=UTC), namespaces=5, finished_at=late
    )
    renamed = _copy_backup(
        s3, bucket, good, datetime(2098, 1, 2, tzinfo=UTC), finished_at=late,
        raw=lambda d: json.dumps({("size_bytes" if k == "size" else k): v
                                  for k, v in d.items()}).encode(),
    )  # fmt: skip
    not_json = _copy_backup(
        s3, bucket, good, datetime(2098, 1, 3, tzinfo=UTC), raw=lambda d: b"{oops"
    )
    partial = _copy_backup(
        s3, bucket, good, datetime(2098, 1, 4, tzinfo=UTC), finished_at=late,
        status="partial", warnings=["failed: shop.secret: not authorized"],
    )  # fmt: skip
    env = without_mongo(backup_env)
    restore_env = {**env, "RESTORE_TARGET_URI": b64(secantus.uri)}

    listed = run_cli(["list", "--json"], env)
    table = run_cli(["list"], env)
    latest = run_cli(["verify", "--latest", "--json"], env)
    rehearsal = run_cli(
        ["restore", "--latest", "--dry-run", "--json",
         "--ns-from", f"{database}.*", "--ns-to", f"{database}_r.*"], restore_env,
    )  # fmt: skip
    unreadable = {
        k: run_cli(["verify", k, "--json"], env) for k in (bad_namespaces, renamed, not_json)
    }
    partial_json = run_cli(["verify", partial, "--json"], env)
    partial_text = run_cli(["verify", partial], env)

    assert listed.returncode == 0, listed.stderr
    by_key = {b["key"]: b for b in json.loads(listed.stdout)["backups"]}
    assert {k: by_key[k]["status"] for k in (good["key"], bad_namespaces, renamed, not_json,
                                              partial)} == {
        good["key"]: "complete", bad_namespaces: "unreadable", renamed: "unreadable",
        not_json: "unreadable", partial: "partial",
    }  # fmt: skip
    assert "$.namespaces" in by_key[bad_namespaces]["problem"]
    assert "size" in by_key[renamed]["problem"]
    assert "not JSON" in by_key[not_json]["problem"]
    assert by_key[partial]["warnings"] == ["failed: shop.secret: not authorized"]
    assert by_key[partial]["problem"] is None
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if line.endswith(partial))
    assert "partial (1 warning)" in row
    assert f"{bad_namespaces}: " in table.stdout
    assert "Unreadable:" in table.stdout
    assert latest.returncode == 0, latest.stdout + latest.stderr
    assert json.loads(latest.stdout)["key"] == good["key"]
    assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
    assert json.loads(rehearsal.stdout)["key"] == good["key"]
    for key, completed in unreadable.items():
        assert completed.returncode == 1, completed.stdout + completed.stderr
        error = json.loads(completed.stdout)["error"]
        assert error["code"] == "VERIFY_ERROR"
        assert error["details"]["problem"] == by_key[key]["problem"]
        assert by_key[key]["problem"] in error["message"]
        assert "Traceback" not in completed.stderr
    assert partial_json.returncode == 3, partial_json.stdout + partial_json.stderr
    report = json.loads(partial_json.stdout)
    assert report["status"] == "verified-partial"
    assert report["warnings"] == ["failed: shop.secret: not authorized"]
    assert report["sha256"] == good["sha256"]
    assert partial_text.returncode == 3
    assert "PARTIAL" in partial_text.stdout
    assert "failed: shop.secret: not authorized" in partial_text.stdout


@pytest.mark.e2e
def test_verify_names_the_namespaces_that_differ_from_the_manifest(
    secantus: Secantus, database: str, backup_env: dict[str, str], s3: Any, bucket: str
) -> None:
    client = mongo(secantus)
    client[database].things.insert_many({"n": n} for n in range(25))
    client[database].others.insert_many({"n": n} for n in range(5))
    good = back_up({**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*"})
    # The manifest forgets one collection and lists one the archive lacks.
    changed = _copy_backup(
        s3, bucket, good, datetime(2098, 2, 1, tzinfo=UTC),
        namespaces={f"{database}.things": 25, f"{database}.ghost": 3},
    )  # fmt: skip

    completed = run_cli(["verify", changed, "--json"], without_mongo(backup_env))

    assert completed.returncode == 1, completed.stdout + completed.stderr
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "VERIFY_ERROR"
    differing = [
        (p["namespace"], p["manifest"], p["archive"]) for p in error["details"]["namespaces"]
    ]
    assert differing == [(f"{database}.ghost", 3, None), (f"{database}.others", None, 5)]
