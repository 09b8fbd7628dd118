"""Edges of the trust guarantees: a clock that ran ahead, a key of another set, a killed upload."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

from pymongo import MongoClient

from backupnimbus.adapters.local_store import LocalDirectoryStore
from backupnimbus.adapters.memory import FakeClock
from backupnimbus.domain.keys import archive_key
from backupnimbus.domain.list_backups import ListBackups, latest_complete
from backupnimbus.domain.prune_backups import PruneBackups
from backupnimbus.domain.retention import RetentionPolicy
from tests.support.aged_store import NOW, PREFIX, AgedStore, manifest_bytes
from tests.support.cli import run_cli
from tests.support.servers import Secantus


def _history_with_a_clock_that_ran_ahead() -> tuple[AgedStore, str, str]:
    """Three backups of one set. The middle one ran on a host whose clock was a year ahead:
    its manifest's finished_at says a year from now, but the store, whose clock is right,
    recorded it two days ago. The last one was really made an hour ago."""
    store = AgedStore()
    store.add("orders", NOW - timedelta(days=3))
    ahead = store.add("orders", NOW - timedelta(days=2))
    store.objects[ahead + ".manifest.json"] = manifest_bytes(
        ahead, "orders", NOW + timedelta(days=365), finished_at=NOW + timedelta(days=365)
    )
    newest = store.add("orders", NOW - timedelta(hours=1))
    return store, ahead, newest


def test_latest_is_not_a_backup_whose_finish_time_is_after_the_store_wrote_it() -> None:
    store, _, newest = _history_with_a_clock_that_ran_ahead()

    records = ListBackups(store=store, prefix=PREFIX).run(name="orders")
    chosen = latest_complete(records, name="orders")

    # restore --latest would put back data two days old, and keep doing so for a year.
    assert chosen.key == newest, f"--latest chose {chosen.key}, a backup made 2 days ago"


def test_prune_keeps_the_newest_good_backup_when_a_clock_once_ran_ahead() -> None:
    store, _, newest = _history_with_a_clock_that_ran_ahead()
    prune = PruneBackups(
        list_backups=ListBackups(store=store, prefix=PREFIX), store=store,
        clock=FakeClock(current=NOW),
    )  # fmt: skip

    prune.run(policy=RetentionPolicy(last=1), name="orders")

    assert newest in store.objects, "prune deleted the backup really made last"


def test_verify_of_a_key_from_another_set_than_the_one_named_is_refused(
    secantus: Secantus, database: str, backup_env: dict[str, str]
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(3))
    env = {**backup_env, "MONGODUMP_NS_INCLUDE": f"{database}.*", "BACKUP_NAME": "users"}
    made = run_cli(["run", "--json"], env)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key"]

    # The operator asks to verify a backup of set "orders"; the key is one of set "users".
    checked = run_cli(["verify", key, "--name", "orders", "--json"], env)

    assert checked.returncode != 0, "a backup of set 'users' was reported verified for 'orders'"


def test_prune_removes_the_partial_file_a_killed_local_upload_left(tmp_path: Path) -> None:
    store = LocalDirectoryStore(root=tmp_path)
    # What `kill -9` during put_stream leaves: the temporary file, never linked to its key.
    key = archive_key(prefix=PREFIX, name="orders", at=NOW - timedelta(days=2))
    left = tmp_path / (key + ".partial-deadbeef")
    left.parent.mkdir(parents=True)
    left.write_bytes(b"\0" * 1024)
    os.utime(left, (0, 0))
    prune = PruneBackups(
        list_backups=ListBackups(store=store, prefix=PREFIX), store=store,
        clock=FakeClock(current=NOW),
    )  # fmt: skip

    prune.run(policy=RetentionPolicy(last=1), name="orders")

    assert not left.exists(), "a killed run's partial archive stays on disk forever"
