"""A second database through a real plugin distribution: tests/plugins/backupnimbus-sqlite adds
SQLite as DUMP_BACKEND=sqlite, and backup, list, verify and restore work on it end to end, with
no MongoDB configured and nothing in the core that knows about SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import b64, run_cli
from tests.support.plugins import DISTRIBUTIONS, install_distribution

FORMAT = "sqlite3-database"


@pytest.fixture(scope="module")
def sqlite_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sqlite-plugin") / "site"
    return install_distribution(DISTRIBUTIONS / "backupnimbus-sqlite", target)


def _shop(path: Path, orders: int = 250) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total REAL)")
        db.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "Ada"), (2, "Grace")])
        db.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [(n, 1 + n % 2, n * 1.5) for n in range(orders)],
        )
    db.close()
    return _rows(path)


def _rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as db:
        rows = {t: db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()  # noqa: S608 - our names
                for t in ("customers", "orders")}  # fmt: skip
    db.close()
    return rows


@pytest.fixture(params=["local", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, moto_endpoint: str, s3: Any
) -> dict[str, Any]:
    """The environment of one store, and a way to flip one byte of a stored object."""
    if request.param == "local":
        root = tmp_path / "store"

        def corrupt(key: str) -> None:
            path = root / key
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0x01
            path.write_bytes(bytes(data))

        return {"env": {"STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(root)},
                "corrupt": corrupt}  # fmt: skip
    bucket = f"sqlite-{tmp_path.name[-12:].lower().replace('_', '-')}"
    s3.create_bucket(Bucket=bucket)

    def corrupt_object(key: str) -> None:
        data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        data[len(data) // 2] ^= 0x01
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))

    env = {"AWS_S3_BUCKET_NAME": b64(bucket), "AWS_ACCESS_KEY_ID": b64("testing"),
           "AWS_SECRET_ACCESS_KEY": b64("testing"), "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL_S3": moto_endpoint}  # fmt: skip
    return {"env": env, "corrupt": corrupt_object}


def test_sqlite_backup_list_verify_and_restore_end_to_end(
    tmp_path: Path, sqlite_plugin: Path, store: dict[str, Any]
) -> None:
    source = tmp_path / "shop.sqlite3"
    original = _shop(source)
    restored = tmp_path / "restored" / "shop.sqlite3"
    # No MONGO_URI and no mongodump: the plugin's database is the source.
    env = {**store["env"], "PYTHONPATH": str(sqlite_plugin), "DUMP_BACKEND": "sqlite",
           "SQLITE_PATH": str(source), "SQLITE_RESTORE_PATH": str(restored),
           "BACKUP_NAME": "shop"}  # fmt: skip

    backup = run_cli(["run", "--json"], env)

    assert backup.returncode == 0, backup.stderr
    result = json.loads(backup.stdout)
    assert result["key"].startswith("backups/shop/")
    assert result["manifest"]["namespaces"] == {"customers": 2, "orders": 250}
    assert result["manifest"]["format"] == FORMAT
    # The temporary copy the backup API wrote is gone.
    assert not list(Path(tmp_path).glob("**/copy.sqlite3"))

    listed = run_cli(["list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    [record] = json.loads(listed.stdout)["backups"]
    assert (record["key"], record["status"], record["format"]) == (result["key"], "complete",
                                                                   FORMAT)  # fmt: skip
    text = run_cli(["list"], env)
    assert FORMAT in text.stdout

    verified = run_cli(["verify", "--json", result["key"]], env)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["status"] == "verified"
    assert report["format"] == FORMAT
    assert (report["size"], report["sha256"]) == (result["size"], result["sha256"])
    assert FORMAT in run_cli(["verify", result["key"]], env).stdout

    restore = run_cli(["restore", "--json", result["key"]], env)
    assert restore.returncode == 0, restore.stderr
    done = json.loads(restore.stdout)
    assert done["sha256_verified"] is True
    assert done["namespaces"] == {"customers": 2, "orders": 250}
    assert _rows(restored) == original

    # An existing file is kept unless the restore is told to replace it.
    with sqlite3.connect(restored) as db:
        db.execute("DELETE FROM orders")
    db.close()
    dry = run_cli(["restore", "--json", "--dry-run", result["key"]], env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    planned = json.loads(dry.stdout)
    assert (planned["status"], planned["existing"]) == ("dry_run", ["customers", "orders"])
    assert _rows(restored)["orders"] == []
    again = run_cli(["restore", "--json", result["key"]], env)
    assert again.returncode == 1
    assert "already exists" in json.loads(again.stdout)["error"]["message"]
    assert _rows(restored)["orders"] == []
    replaced = run_cli(["restore", "--json", "--drop", "--latest"], env)
    assert replaced.returncode == 0, replaced.stderr
    assert _rows(restored) == original

    store["corrupt"](result["key"])
    broken = run_cli(["verify", "--json", result["key"]], env)
    assert broken.returncode == 1
    failure = json.loads(broken.stdout)["error"]
    assert failure["code"] == "VERIFY_ERROR"
    assert "sha256 mismatch" in failure["message"]
    # Nor is a corrupt backup restored over a good file.
    refused = run_cli(["restore", "--json", "--drop", result["key"]], env)
    assert refused.returncode == 1
    assert _rows(restored) == original


def test_sqlite_backend_needs_no_mongodb_to_check(tmp_path: Path, sqlite_plugin: Path) -> None:
    source = tmp_path / "shop.sqlite3"
    _shop(source, orders=1)
    env = {"PYTHONPATH": str(sqlite_plugin), "DUMP_BACKEND": "sqlite", "SQLITE_PATH": str(source),
           "STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path / "store")}  # fmt: skip
    (tmp_path / "store").mkdir()

    checked = run_cli(["check", "--json"], env)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    names = [c["name"] for c in json.loads(checked.stdout)["checks"]]
    assert "mongodb" not in names
    assert "mongodump" not in names
    [dump] = [c for c in json.loads(checked.stdout)["checks"] if c["name"] == "dump backend"]
    assert dump["detail"].startswith("sqlite: sqlite 3.")


def test_missing_sqlite_database_fails_the_backup_and_stores_nothing(
    tmp_path: Path, sqlite_plugin: Path
) -> None:
    store = tmp_path / "store"
    env = {"PYTHONPATH": str(sqlite_plugin), "DUMP_BACKEND": "sqlite",
           "SQLITE_PATH": str(tmp_path / "typo.sqlite3"), "STORAGE_BACKEND": "local",
           "LOCAL_BACKUP_DIR": str(store)}  # fmt: skip

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 1
    assert json.loads(completed.stdout)["error"]["code"] == "DUMP_ERROR"
    assert not (tmp_path / "typo.sqlite3").exists()
    assert not [p for p in store.rglob("*") if p.is_file()]


def test_unknown_dump_backend_names_the_installed_ones(tmp_path: Path, sqlite_plugin: Path) -> None:
    env = {"PYTHONPATH": str(sqlite_plugin), "DUMP_BACKEND": "postgres",
           "STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path)}  # fmt: skip

    completed = run_cli(["run"], env)

    assert completed.returncode == 2
    assert "DUMP_BACKEND='postgres'" in completed.stderr
    assert "mongodump, sqlite" in completed.stderr


def test_plugins_command_lists_the_dump_backend_and_its_format(sqlite_plugin: Path) -> None:
    listed = run_cli(["plugins", "--json"], {"PYTHONPATH": str(sqlite_plugin)})
    text = run_cli(["plugins"], {"PYTHONPATH": str(sqlite_plugin)})

    assert listed.returncode == 0, listed.stderr
    [plugin] = json.loads(listed.stdout)["plugins"]
    assert plugin["distribution"] == "backupnimbus-sqlite"
    assert plugin["dump_backends"] == [{"name": "sqlite", "format": FORMAT, "restores": True}]
    assert "  dump backends: sqlite (sqlite3-database)" in text.stdout
    assert "dump mongodump" in text.stdout


# -- a backup, a file or an option that does not fit the configured dump backend ---------------


def _local_env(tmp_path: Path, sqlite_plugin: Path) -> dict[str, str]:
    (tmp_path / "store").mkdir(exist_ok=True)
    return {"PYTHONPATH": str(sqlite_plugin), "STORAGE_BACKEND": "local",
            "LOCAL_BACKUP_DIR": str(tmp_path / "store"), "BACKUP_NAME": "shop",
            "SQLITE_PATH": str(tmp_path / "shop.sqlite3"),
            "SQLITE_RESTORE_PATH": str(tmp_path / "restored.sqlite3")}  # fmt: skip


def _error(completed: Any) -> dict[str, Any]:
    assert "Traceback" not in completed.stderr, completed.stderr
    error: dict[str, Any] = json.loads(completed.stdout)["error"]
    return error


def test_a_sqlite_backup_is_refused_by_the_mongodump_restorer_before_it_starts(
    tmp_path: Path, sqlite_plugin: Path
) -> None:
    _shop(tmp_path / "shop.sqlite3", orders=3)
    env = _local_env(tmp_path, sqlite_plugin)
    backup = run_cli(["run", "--json"], {**env, "DUMP_BACKEND": "sqlite"})
    assert backup.returncode == 0, backup.stderr
    key = json.loads(backup.stdout)["key"]
    # DUMP_BACKEND unset: mongodump's restorer, pointed at a server that is not there.
    mongodump_env = {**env, "RESTORE_TARGET_URI": b64("mongodb://127.0.0.1:9/?connectTimeoutMS=1")}

    refused = run_cli(["restore", "--json", key], mongodump_env)
    latest = run_cli(["restore", "--json", "--latest"], mongodump_env)
    verified = run_cli(["verify", "--json", key], mongodump_env)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    error = _error(refused)
    assert error["code"] == "CONFIG_ERROR"
    assert f"{key} is a {FORMAT} backup" in error["message"]
    assert "restores mongodump-archive archives" in error["message"]
    assert "set DUMP_BACKEND=sqlite to restore it" in error["message"]
    assert "mongorestore" not in refused.stdout + refused.stderr
    assert latest.returncode == 2
    assert "set DUMP_BACKEND=sqlite" in _error(latest)["message"]
    # verify checks any format by its manifest, whichever backend is configured.
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["format"] == FORMAT


def test_a_mongodump_backup_is_refused_by_the_sqlite_restorer_before_it_writes(
    tmp_path: Path, sqlite_plugin: Path
) -> None:
    import hashlib
    from datetime import UTC, datetime

    from backupnimbus.domain.keys import archive_key, manifest_key
    from backupnimbus.domain.manifest_codec import encode_manifest
    from backupnimbus.domain.models import Manifest, SourceInfo
    from tests.support.testdata import TESTDATA

    env = _local_env(tmp_path, sqlite_plugin)
    data = (TESTDATA / "mongodump-100.8.0__shop.users.archive").read_bytes()
    at = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
    key = archive_key(prefix="backups/", name="shop", at=at, compression="none")
    (tmp_path / "store" / key).parent.mkdir(parents=True)
    (tmp_path / "store" / key).write_bytes(data)
    (tmp_path / "store" / manifest_key(key)).write_bytes(encode_manifest(Manifest(
        name="shop", key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        compressed=False, encrypted=False, started_at=at, finished_at=at,
        mongodump_version="100.8.0", tool_version="0.1.0", source=SourceInfo(hosts=("db",)),
    )))  # fmt: skip

    refused = run_cli(["restore", "--json", key], {**env, "DUMP_BACKEND": "sqlite"})

    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = _error(refused)["message"]
    assert f"{key} is a mongodump-archive backup" in message
    assert f"the configured dump backend (sqlite) restores {FORMAT} archives" in message
    assert "set DUMP_BACKEND=mongodump (or leave it unset)" in message
    assert not (tmp_path / "restored.sqlite3").exists()


def test_target_uri_is_refused_while_the_sqlite_backend_restores(
    tmp_path: Path, sqlite_plugin: Path
) -> None:
    env = {**_local_env(tmp_path, sqlite_plugin), "DUMP_BACKEND": "sqlite"}

    for uri in ("mongodb://db.example:27017", "file:///elsewhere.sqlite3"):
        refused = run_cli(["restore", "--json", "--latest", "--target-uri", uri], env)

        assert refused.returncode == 2, refused.stdout + refused.stderr
        error = _error(refused)
        assert error["code"] == "CONFIG_ERROR"
        assert "--target-uri" in error["message"]
        assert "DUMP_BACKEND=sqlite" in error["message"]
        assert "must start with mongodb://" not in error["message"]
    assert not (tmp_path / "restored.sqlite3").exists()


def test_a_sqlite_file_given_to_file_options_is_refused_with_the_way_to_check_it(
    tmp_path: Path, sqlite_plugin: Path
) -> None:
    database = tmp_path / "shop.sqlite3"
    _shop(database, orders=3)
    env = _local_env(tmp_path, sqlite_plugin)
    sqlite_env = {**env, "DUMP_BACKEND": "sqlite"}
    mongodump_env = {**env, "RESTORE_TARGET_URI": b64("mongodb://127.0.0.1:9")}

    verify_sqlite = run_cli(["verify", "--json", "--file", str(database)], sqlite_env)
    restore_sqlite = run_cli(["restore", "--json", "--file", str(database)], sqlite_env)
    verify_mongo = run_cli(["verify", "--json", "--file", str(database)], mongodump_env)
    restore_mongo = run_cli(["restore", "--json", "--file", str(database)], mongodump_env)
    text = run_cli(["verify", "--file", str(database)], sqlite_env)

    for refused, verb in ((verify_sqlite, "verify"), (restore_sqlite, "restore")):
        assert refused.returncode == 2, refused.stdout + refused.stderr
        message = _error(refused)["message"]
        assert f"--file {database}" in message
        assert "DUMP_BACKEND=sqlite" in message
        assert FORMAT in message
        assert f"{verb} KEY or --latest" in message
    for failed in (verify_mongo, restore_mongo):
        assert failed.returncode == 1, failed.stdout + failed.stderr
        error = _error(failed)
        assert error["code"] == "VERIFY_ERROR"
        assert f"{database} is not a mongodump archive" in error["message"]
        assert (
            "other formats are checked in the store, against their manifest" in (error["message"])
        )
    assert text.returncode == 2
    assert "Traceback" not in text.stderr
    assert "--file" in text.stderr
    assert not (tmp_path / "restored.sqlite3").exists()
