"""`backupnimbus restore`: S3 (moto) or a local file -> mongorestore -> SecantusDB."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from backupnimbus.adapters.compression import FastCompressor
from backupnimbus.adapters.memory import InMemoryObjectStore
from backupnimbus.adapters.mongorestore import MongorestoreRestorer
from backupnimbus.domain.list_backups import ListBackups
from backupnimbus.domain.restore_backup import RestoreBackup, RestoreFromFile, RestoreFromKey
from backupnimbus.errors import StorageFailedError, VerificationFailedError
from backupnimbus.ports.archive_restorer import NamespaceRename, RestoreOptions, RestoreReport
from backupnimbus.ports.object_store import Readable
from backupnimbus.redaction import Redactor
from tests.support.bson_corpus import index_specs, raw_documents, seed_every_type
from tests.support.cli import b64, run_cli
from tests.support.servers import Secantus
from tests.support.testdata import TESTDATA

pytestmark = pytest.mark.e2e

USERS_ARCHIVE = TESTDATA / "mongodump-100.8.0__shop.users.archive"
MULTI_DB_GZ = TESTDATA / "mongodump-100.8.0__multi-db.archive.gz"
MULTI_DB = TESTDATA / "mongodump-100.8.0__multi-db.archive"


@pytest.fixture
def client(secantus: Secantus) -> MongoClient[Any]:
    return MongoClient(secantus.uri)


@pytest.fixture
def restore_env(backup_env: dict[str, str], secantus: Secantus) -> dict[str, str]:
    # No MONGORESTORE_PATH: it defaults to the sibling of MONGODUMP_PATH.
    return {**backup_env, "RESTORE_TARGET_URI": b64(secantus.uri)}


def _backup(env: dict[str, str], database: str, *extra: str) -> dict[str, Any]:
    completed = run_cli(["run", "--json", *extra], {**env, "MONGODUMP_NS_INCLUDE": f"{database}.*"})
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout))


def _restore(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    completed = run_cli(["restore", *args, "--json"], env)
    assert "Traceback" not in completed.stderr + completed.stdout
    return completed.returncode, json.loads(completed.stdout), completed.stderr


def _renamed(database: str) -> list[str]:
    return ["--ns-from", f"{database}.*", "--ns-to", f"{database}_r.*"]


def test_restore_is_byte_identical_and_keeps_indexes(
    client: MongoClient[Any], database: str, restore_env: dict[str, str], secantus: Secantus
) -> None:
    seed_every_type(client[database])
    backup = _backup(restore_env, database)

    code, result, stderr = _restore(restore_env, backup["key"], *_renamed(database))

    assert code == 0, stderr
    source, target = client[database], client[f"{database}_r"]
    for collection in ("every_type", "capped_log", "people"):
        assert raw_documents(target, collection) == raw_documents(source, collection), collection
        assert index_specs(target, collection) == index_specs(source, collection), collection
    assert target["capped_log"].options()["capped"] is True
    assert result["namespaces"] == {
        f"{database}_r.every_type": 10, f"{database}_r.capped_log": 50, f"{database}_r.people": 300
    }  # fmt: skip
    assert result["key"] == backup["key"]
    assert result["sha256"] == backup["sha256"]
    assert result["sha256_verified"] is True
    assert result["dry_run"] is False
    assert result["target_hosts"] == [f"127.0.0.1:{secantus.port}"]


def test_ns_include_restores_only_what_it_names(
    client: MongoClient[Any], database: str, restore_env: dict[str, str]
) -> None:
    client[database].wanted.insert_many({"n": n} for n in range(3))
    client[database].unwanted.insert_many({"n": n} for n in range(2))
    backup = _backup(restore_env, database)

    code, result, stderr = _restore(
        restore_env, backup["key"], "--ns-include", f"{database}.wanted", *_renamed(database)
    )

    assert code == 0, stderr
    assert client[f"{database}_r"].list_collection_names() == ["wanted"]
    assert client[f"{database}_r"].wanted.count_documents({}) == 3
    assert result["namespaces"] == {f"{database}_r.wanted": 3}


def test_drop_replaces_the_target_collections(
    client: MongoClient[Any], database: str, restore_env: dict[str, str], secantus: Secantus
) -> None:
    client[database].things.insert_many({"_id": n} for n in range(5))
    backup = _backup(restore_env, database)
    target = client[f"{database}_r"].things
    target.insert_one({"_id": "stray"})
    # The URI on the command line works as well as RESTORE_TARGET_URI.
    env = {k: v for k, v in restore_env.items() if k != "RESTORE_TARGET_URI"}
    args = [backup["key"], "--target-uri", secantus.uri, *_renamed(database)]

    kept_code, _, kept_err = _restore(env, *args)
    kept = sorted(map(str, target.distinct("_id")))
    dropped_code, _, dropped_err = _restore(env, *args, "--drop")

    assert kept_code == 0, kept_err
    assert kept == ["0", "1", "2", "3", "4", "stray"]
    assert dropped_code == 0, dropped_err
    assert sorted(target.distinct("_id")) == [0, 1, 2, 3, 4]


def test_dry_run_writes_nothing_and_says_what_it_would_restore(
    client: MongoClient[Any], database: str, restore_env: dict[str, str]
) -> None:
    client[database].things.insert_many({"n": n} for n in range(7))
    client[database].other.insert_many({"n": n} for n in range(4))
    backup = _backup(restore_env, database)
    target = client[f"{database}_r"]
    target.things.insert_one({"_id": "stray"})

    code, result, stderr = _restore(
        restore_env, "--latest", "--drop", "--dry-run", *_renamed(database)
    )

    assert code == 0, stderr
    assert target.list_collection_names() == ["things"]
    assert list(target.things.find()) == [{"_id": "stray"}]
    assert result["dry_run"] is True
    assert result["key"] == backup["key"]
    assert result["namespaces"] == {f"{database}_r.things": 7, f"{database}_r.other": 4}
    # The dry run still reads the whole archive, so the digest is checked.
    assert result["sha256_verified"] is True
    # What --drop would replace (or, without it, add to) is named before anything is written.
    assert result["existing"] == [f"{database}_r.things"]
    assert target.list_collection_names() == ["things"]


def test_dry_run_text_says_which_targets_already_exist(
    client: MongoClient[Any], database: str, restore_env: dict[str, str]
) -> None:
    client[database].things.insert_many({"n": n} for n in range(3))
    client[database].fresh.insert_many({"n": n} for n in range(2))
    backup = _backup(restore_env, database)
    client[f"{database}_r"].things.insert_one({"_id": "stray"})

    completed = run_cli(["restore", backup["key"], "--dry-run", *_renamed(database)], restore_env)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    things = next(line for line in lines if f"{database}_r.things" in line)
    fresh = next(line for line in lines if f"{database}_r.fresh" in line)
    assert "already exists" in things
    assert "already exists" not in fresh
    assert "1 of 2 target namespaces already exist" in completed.stdout


def test_ns_from_restores_only_the_renamed_namespaces(
    client: MongoClient[Any], database: str, secantus: Secantus, mongo_tools: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    # The archive holds shop.* and analytics.events_2025; only shop.* is asked for, renamed.
    live = client["analytics"]["events_2025"]
    before = live.count_documents({})
    env = {"MONGORESTORE_PATH": str(mongo_tools / "mongorestore"),
           "LOCAL_BACKUP_DIR": str(tmp_path / "nothing-here")}  # fmt: skip

    code, result, stderr = _restore(
        env, "--file", str(MULTI_DB_GZ), "--target-uri", secantus.uri,
        "--ns-from", "shop.*", "--ns-to", f"{database}.*",
    )  # fmt: skip

    assert code == 0, stderr
    assert result["namespaces"] == {f"{database}.orders": 5000, f"{database}.users": 200}
    assert live.count_documents({}) == before, "a namespace outside --ns-from was restored"


def _alter_one_byte(stored: bytearray, where: str) -> None:
    if where == "gzip":
        at = len(stored) // 3
    elif where == "string":
        # Inside a string: mongorestore would take the altered document as it is.
        at = stored.index(b"payload-00900") + 8
    else:
        # The high byte of an early document's length: mongorestore fails on it mid-stream.
        at = stored.rindex(b"\x07_id\x00", 0, stored.index(b"payload-00400")) - 1
    stored[at] ^= 0x40


@pytest.mark.parametrize("where", ["gzip", "string", "length"])
def test_altered_byte_fails_with_sha256_mismatch(
    client: MongoClient[Any], database: str, restore_env: dict[str, str], s3: Any, bucket: str,
    where: str,
) -> None:  # fmt: skip
    # Incompressible and a few MiB, so the archive reaches mongorestore in several chunks.
    client[database].things.insert_many(
        {"n": n, "text": f"payload-{n:05d}", "noise": os.urandom(1000)} for n in range(4000)
    )
    client[database].things.create_index("n", name="n_1")
    backup = _backup(restore_env, database, *([] if where == "gzip" else ["--no-compress"]))
    stored = bytearray(s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read())
    _alter_one_byte(stored, where)
    s3.put_object(Bucket=bucket, Key=backup["key"], Body=bytes(stored))

    code, result, _ = _restore(restore_env, backup["key"], *_renamed(database))

    assert code == 1
    assert result["error"]["code"] == "VERIFY_ERROR"
    assert "sha256 mismatch" in result["error"]["message"]
    assert result["error"]["details"]["expected_sha256"] == backup["sha256"]
    # mongorestore never saw the archive's end, so it never got as far as building indexes.
    assert "n_1" not in client[f"{database}_r"].things.index_information()
    if where == "length":
        # mongorestore failed first; the mismatch is still what the user is told.
        assert result["error"]["details"]["restore_failure"]["exit_code"] != 0


def test_target_password_never_reaches_mongorestore_argv(
    client: MongoClient[Any], database: str, secantus: Secantus, mongo_tools: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    password = f"pw-{uuid.uuid4().hex}"
    user = f"u{uuid.uuid4().hex[:8]}"
    client.admin.command("createUser", user, pwd=password, roles=["root"])
    recorded = tmp_path / "argv.txt"
    wrapper = tmp_path / "mongorestore-wrapper"
    # The wrapper records its own argv and what its config is (a pipe), then becomes mongorestore.
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{recorded}"\n'
        'for a in "$@"; do case "$a" in --config=*) stat -L -c %F "${a#--config=}"'
        f' >> "{recorded}.mode";; esac; done\n'
        f'exec "{mongo_tools / "mongorestore"}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    archive = tmp_path / "users.archive"
    shutil.copyfile(USERS_ARCHIVE, archive)
    uri = f"mongodb://{user}:{password}@127.0.0.1:{secantus.port}/?authSource=admin"
    env = {"RESTORE_TARGET_URI": b64(uri), "MONGORESTORE_PATH": str(wrapper)}

    completed = run_cli(
        ["restore", "--file", str(archive), "--ns-from", "shop.*", "--ns-to", f"{database}.*"],
        env,
    )

    assert completed.returncode == 0, completed.stderr
    assert client[database].users.count_documents({}) == 200
    argv = recorded.read_text()
    assert password not in argv
    assert "--archive" in argv.splitlines()
    config_paths = [a.split("=", 1)[1] for a in argv.splitlines() if a.startswith("--config=")]
    assert len(config_paths) == 1
    assert config_paths[0].startswith("/dev/fd/"), "the URI comes through an inherited pipe"
    assert Path(f"{recorded}.mode").read_text().strip() == "fifo", "a pipe, not a file on disk"
    assert password not in completed.stdout + completed.stderr


@pytest.mark.parametrize(
    ("original", "include", "expected"),
    [(USERS_ARCHIVE, [], 200), (MULTI_DB_GZ, ["--ns-include", "shop.users"], 200)],
    ids=["plain", "gzip-sniffed"],
)
def test_local_file_restores_without_any_aws_configuration(
    client: MongoClient[Any], database: str, secantus: Secantus, mongo_tools: Path,
    tmp_path: Path, original: Path, include: list[str], expected: int,
) -> None:  # fmt: skip
    archive = tmp_path / original.name
    shutil.copyfile(original, archive)
    env = {"MONGORESTORE_PATH": str(mongo_tools / "mongorestore"),
           "LOCAL_BACKUP_DIR": str(tmp_path / "nothing-here")}  # fmt: skip

    code, result, stderr = _restore(
        env, "--file", str(archive), "--target-uri", secantus.uri, *include,
        "--ns-from", "shop.*", "--ns-to", f"{database}.*",
    )  # fmt: skip

    assert code == 0, stderr
    assert client[database].list_collection_names() == ["users"]
    assert client[database].users.count_documents({}) == expected
    assert result["namespaces"] == {f"{database}.users": expected}
    assert result["file"] == str(archive)
    assert result["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert result["sha256_verified"] is False


def test_missing_or_bad_target_is_a_usage_error(tmp_path: Path, mongo_tools: Path) -> None:
    archive = tmp_path / "users.archive"
    shutil.copyfile(USERS_ARCHIVE, archive)
    base = {"MONGORESTORE_PATH": str(mongo_tools / "mongorestore")}
    not_a_uri = "https://user:hunter2secret@example.com/"

    missing = run_cli(["restore", "--file", str(archive)], base)
    bad = run_cli(
        ["restore", "--file", str(archive)], {**base, "RESTORE_TARGET_URI": b64(not_a_uri)}
    )
    unpaired = run_cli(
        ["restore", "--file", str(archive), "--target-uri", "mongodb://127.0.0.1:1/",
         "--ns-from", "shop.*"], base,
    )  # fmt: skip

    for completed in (missing, bad, unpaired):
        assert completed.returncode == 2, completed.stderr
        assert "Traceback" not in completed.stderr
    assert "RESTORE_TARGET_URI" in missing.stderr
    assert "--target-uri" in missing.stderr
    assert "RESTORE_TARGET_URI must decode to a URI starting with mongodb://" in bad.stderr
    assert "hunter2secret" not in bad.stderr + bad.stdout
    assert "--ns-from and --ns-to must be given together" in unpaired.stderr


def test_backup_without_manifest_is_refused(
    client: MongoClient[Any], database: str, restore_env: dict[str, str], s3: Any, bucket: str
) -> None:
    client[database].things.insert_many({"n": n} for n in range(3))
    backup = _backup(restore_env, database)
    s3.delete_object(Bucket=bucket, Key=backup["manifest_key"])

    code, result, _ = _restore(restore_env, backup["key"], *_renamed(database))

    assert code == 1
    assert "incomplete" in result["error"]["message"]
    assert f"{database}_r" not in client.list_database_names()


def test_mongorestore_dying_early_fails_cleanly_with_its_stderr(
    tmp_path: Path, secantus: Secantus
) -> None:
    wrapper = tmp_path / "mongorestore"
    wrapper.write_text("#!/bin/sh\necho 'simulated: cannot reach the target' >&2\nexit 3\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    archive = tmp_path / "multi-db.archive"  # 1.2 MB: more than a pipe holds
    shutil.copyfile(MULTI_DB, archive)

    code, result, _ = _restore(
        {"MONGORESTORE_PATH": str(wrapper)}, "--file", str(archive), "--target-uri", secantus.uri
    )

    assert code == 1
    assert result["error"]["code"] == "RESTORE_ERROR"
    assert result["error"]["details"]["exit_code"] == 3
    assert result["error"]["message"].endswith("simulated: cannot reach the target")
    assert "simulated: cannot reach the target" in result["error"]["details"]["stderr_tail"][-1]


class _FailingAfter:
    """A stream that breaks after `limit` bytes, as a dropped S3 connection would."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data = io.BytesIO(data)
        self._limit = limit

    def read(self, size: int, /) -> bytes:
        if self._data.tell() >= self._limit:
            raise ConnectionResetError("connection reset by peer")
        return self._data.read(min(size, self._limit - self._data.tell()))


class _BreaksOnItsSecondRead:
    """A local file read whole by the check before the restore, whose read by the restore
    itself breaks after `limit` bytes, as a failing disk or a dropped mount would."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data = data
        self._limit = limit
        self.opened = 0

    @contextlib.contextmanager
    def open_read(self, path: str) -> Iterator[Readable]:
        self.opened += 1
        yield io.BytesIO(self._data) if self.opened == 1 else _FailingAfter(self._data, self._limit)


def test_a_broken_source_stream_stops_mongorestore(
    client: MongoClient[Any], database: str, secantus: Secantus, mongo_tools: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    pid_file = tmp_path / "pid"
    wrapper = tmp_path / "mongorestore"
    wrapper.write_text(
        f'#!/bin/sh\necho $$ > "{pid_file}"\nexec "{mongo_tools}/mongorestore" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    restorer = MongorestoreRestorer(executable=str(wrapper), uri=secantus.uri, redactor=Redactor())
    use_case = RestoreBackup(
        compressor=FastCompressor(),
        store=InMemoryObjectStore(),
        backups=ListBackups(store=InMemoryObjectStore(), prefix="backups/"),
        restorer=restorer,
        files=_BreaksOnItsSecondRead(MULTI_DB.read_bytes(), limit=1_100_000),
    )
    options = RestoreOptions(
        rename=NamespaceRename(ns_from="shop.*", ns_to=f"{database}.*"), ns_include=("shop.*",)
    )

    with pytest.raises(StorageFailedError, match="failed after 1100000 bytes"):
        use_case.run(request=RestoreFromFile(path="x", options=options))

    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)
    assert "idx_orders_n" not in client[database].orders.index_information()


class _RecordingRestorer:
    """Reads what a restorer would be fed, to see which bytes reach the tool."""

    def __init__(self) -> None:
        self.received = bytearray()

    def restore(
        self, *, stream: Readable, compressed: bool, options: RestoreOptions
    ) -> RestoreReport:
        while chunk := stream.read(1000):
            self.received += chunk
        return RestoreReport(target_hosts=("h",), restored={}, failures=0, planned={})

    def existing(self, namespaces: Any) -> tuple[str, ...]:
        return ()


def test_a_corrupt_archive_never_reaches_its_end_in_the_restorer(
    restore_env: dict[str, str], database: str, client: MongoClient[Any], s3: Any, bucket: str
) -> None:
    client[database].things.insert_many({"n": n} for n in range(50))
    backup = _backup(restore_env, database)
    manifest = s3.get_object(Bucket=bucket, Key=backup["manifest_key"])["Body"].read()
    good = s3.get_object(Bucket=bucket, Key=backup["key"])["Body"].read()
    corrupt = bytes([good[0] ^ 0xFF]) + good[1:]
    store = InMemoryObjectStore({backup["key"]: corrupt, backup["manifest_key"]: manifest})
    restorer = _RecordingRestorer()
    use_case = RestoreBackup(
        compressor=FastCompressor(),
        store=store,
        backups=ListBackups(store=store, prefix="backups/"),
        restorer=restorer,
    )

    with pytest.raises(VerificationFailedError, match="sha256 mismatch"):
        use_case.run(request=RestoreFromKey(key=backup["key"]))

    assert bytes(restorer.received) == corrupt[: len(restorer.received)]
    assert len(restorer.received) < len(corrupt)


@pytest.mark.parametrize(
    ("ns_from", "includes", "expected"),
    [
        ("shop.*", (), ["--nsInclude=shop.*"]),
        ("shop.$coll$", (), ["--nsInclude=shop.*"]),
        ("$db$.orders_$year$", (), ["--nsInclude=*.orders_*"]),
        # A literal asterisk in a $variable$ pattern stays literal in the include.
        ("shop.a*b_$x$", (), [r"--nsInclude=shop.a\*b_*"]),
        # Includes the user gave choose what is restored; the rename applies to those it matches.
        ("shop.*", ("shop.users", "other.x"), ["--nsInclude=shop.users", "--nsInclude=other.x"]),
    ],
)
def test_a_rename_restores_only_what_its_source_pattern_matches(
    ns_from: str, includes: tuple[str, ...], expected: list[str]
) -> None:
    from backupnimbus.adapters.mongorestore import restore_arguments

    options = RestoreOptions(
        ns_include=includes, rename=NamespaceRename(ns_from=ns_from, ns_to="copy.*")
    )

    args = restore_arguments(compressed=False, options=options)

    assert [a for a in args if a.startswith("--nsInclude=")] == expected
