"""A backup is restored only by the restorer of the backend that wrote it. A SQLite
backup (the plugin distribution's) given to mongorestore is refused, as a configuration problem,
before any tool starts or any target is touched."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.cli import b64, run_cli
from tests.support.plugins import DISTRIBUTIONS, install_distribution
from tests.support.servers import Secantus


@pytest.fixture(scope="module")
def sqlite_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("sqlite-plugin") / "site"
    return install_distribution(DISTRIBUTIONS / "backupnimbus-sqlite", target)


def test_mongorestore_is_never_handed_a_sqlite_backup(
    tmp_path: Path, sqlite_plugin: Path, secantus: Secantus, mongo_tools: Path, database: str
) -> None:
    source = tmp_path / "shop.sqlite3"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO orders VALUES (?)", [(n,) for n in range(10)])
    db.close()
    store = {"STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(tmp_path / "store"),
             "BACKUP_NAME": "shop"}  # fmt: skip
    sqlite = {
        "PYTHONPATH": str(sqlite_plugin),
        "DUMP_BACKEND": "sqlite",
        "SQLITE_PATH": str(source),
    }
    backup = run_cli(["run", "--json"], {**store, **sqlite})
    assert backup.returncode == 0, backup.stderr
    key = json.loads(backup.stdout)["key"]
    target: MongoClient[Any] = MongoClient(secantus.uri)
    target[database]["orders"].insert_one({"_id": 1, "kept": True})
    # The same store, read with the built-in MongoDB configuration.
    mongo = {**store, "MONGO_URI": b64(secantus.uri), "RESTORE_TARGET_URI": b64(secantus.uri),
             "MONGODUMP_PATH": str(mongo_tools / "mongodump")}  # fmt: skip

    for args in (["restore", "--json", "--drop", key], ["restore", "--json", "--drop", "--latest"]):
        refused = run_cli(args, mongo)

        assert refused.returncode == 2, refused.stdout + refused.stderr
        error = json.loads(refused.stdout)["error"]
        assert "sqlite3-database" in error["message"]
        assert "DUMP_BACKEND" in error["message"]
    assert list(target[database]["orders"].find()) == [{"_id": 1, "kept": True}]
