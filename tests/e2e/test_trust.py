"""A backup counts only when it is proven whole, and nothing may delete the last good one.

End to end with the real mongodump against SecantusDB and the CLI against moto: a dump that
exits 0 but is empty, truncated or not an archive at all is refused (nothing stored, no manifest,
exit 1, a failure mail), and the good backup before it survives a retention of one.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from tests.support.cli import b64, run_cli
from tests.support.fault_db import HOLD_LISTING, FaultDb
from tests.support.fault_matrix import MATRIX, Row
from tests.support.fault_scene import contents, lost_since, open_uploads, with_mail
from tests.support.servers import Secantus
from tests.support.ses import moto_sent

pytestmark = pytest.mark.e2e

GOOD_AT = "2025-04-07T10:15:30Z"
LATER_AT = "2025-04-08T10:15:30Z"


@pytest.fixture
def env(
    backup_env: dict[str, str], secantus: Secantus, database: str, ses_endpoint: str
) -> dict[str, str]:
    """One good backup's worth of data, retention of one, and mail on."""
    MongoClient[dict[str, Any]](secantus.uri)[database].orders.insert_many(
        {"n": n, "item": f"thing {n}"} for n in range(500)
    )
    return {
        **with_mail(backup_env, ses_endpoint, f"trust-{database}"),
        "MONGODUMP_NS_INCLUDE": f"{database}.*",
        "RETENTION_KEEP_LAST": "1",
    }


def _good_backup(env: dict[str, str], s3: Any, bucket: str) -> dict[str, tuple[str, int]]:
    completed = run_cli(["run", "--json", "--timestamp", GOOD_AT], env)
    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    return contents(s3, bucket)


def _stand_in(tmp_path: Path, mongo_tools: Path, body: str) -> str:
    """A MONGODUMP_PATH that runs the real mongodump through `body` and exits 0."""
    real = mongo_tools / "mongodump"
    path = tmp_path / "mongodump"
    path.write_text(
        "#!/bin/bash\n"
        f'case "$1" in --version) exec "{real}" "$@";; esac\n'
        f'REAL="{real}"\n'
        f"{body}\n"
        "exit 0\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def _refused(
    row_id: str,
    fault: str,
    good: dict[str, str],
    env: dict[str, str],
    s3: Any,
    bucket: str,
    ses_endpoint: str,
    *,
    code: str,
) -> dict[str, Any]:
    """Runs a backup that must be refused; records the matrix row from what was seen."""
    before = _good_backup(good, s3, bucket)
    completed = run_cli(["run", "--json", "--timestamp", LATER_AT], env)
    after = contents(s3, bucket)
    name = env["BACKUP_NAME"]
    succeeded_mails = moto_sent(ses_endpoint, f"[BackupNimbus] Backup succeeded: {name}")
    failed_mails = moto_sent(ses_endpoint, f"[BackupNimbus] Backup failed: {name}")
    new_manifests = [k for k in after if k.endswith(".manifest.json") and k not in before]
    MATRIX.record(
        row_id,
        Row(
            fault=fault,
            injected=1,
            expected=f"{code}, exit 1; nothing stored; failure e-mail; the good backup kept "
            "with RETENTION_KEEP_LAST=1",
            observed=f"exit {completed.returncode}; {len(after) - len(before)} new object(s); "
            f"{len(failed_mails)} failure e-mail(s); {len(before) - lost_count(before, after)} "
            f"of {len(before)} earlier object(s) intact",
            failed_cleanly=int(completed.returncode == 1 and after == before),
            bytes_lost=lost_since(before, after),
            orphaned_uploads=open_uploads(s3, bucket),
            false_successes=int(completed.returncode == 0)
            + len(new_manifests)
            + len(succeeded_mails)
            - 1,
            good_backups_lost=lost_count(before, after) // 2,
        ),
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr[-3000:]
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == code
    assert after == before, "nothing new may be stored, and the good backup must stay"
    assert open_uploads(s3, bucket) == 0
    assert len(succeeded_mails) == 1, "only the good backup may be mailed as a success"
    assert len(failed_mails) == 1
    assert code in failed_mails[0].body
    assert "Traceback" not in completed.stderr
    return error


def lost_count(before: dict[str, tuple[str, int]], after: dict[str, tuple[str, int]]) -> int:
    return sum(1 for key, value in before.items() if after.get(key) != value)


def test_a_dump_of_a_database_that_does_not_exist_is_refused(
    env: dict[str, str], mongo_tools: Path, s3: Any, bucket: str, ses_endpoint: str
) -> None:
    # The realistic case: a typo, a renamed database, a user that lost its rights. The real
    # mongodump writes a valid, empty archive and exits 0.
    typo = {**env, "MONGODUMP_NS_INCLUDE": f"{env['MONGODUMP_NS_INCLUDE'][:-2]}_typo.*"}

    error = _refused(
        "dump-empty-namespace",
        "MONGODUMP_NS_INCLUDE names a database that does not exist: the real mongodump writes "
        "an empty archive and exits 0",
        env, typo, s3, bucket, ses_endpoint, code="EMPTY_BACKUP",
    )  # fmt: skip

    assert "ALLOW_EMPTY_BACKUP" in error["message"]
    verified = run_cli(["verify", "--latest", "--json"], env)
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    assert "20250407T101530Z" in json.loads(verified.stdout)["key"]


def test_an_empty_backup_is_stored_when_allowed(env: dict[str, str], s3: Any, bucket: str) -> None:
    typo = {
        **env,
        "MONGODUMP_NS_INCLUDE": "no_such_database_at_all.*",
        "ALLOW_EMPTY_BACKUP": "true",
    }

    completed = run_cli(["run", "--json", "--timestamp", GOOD_AT], typo)

    assert completed.returncode == 0, completed.stdout + completed.stderr[-3000:]
    document = json.loads(completed.stdout)
    assert document["manifest"]["namespaces"] == {}
    assert document["key"] + ".manifest.json" in contents(s3, bucket)


@pytest.mark.parametrize(
    ("row_id", "fault", "body", "code"),
    [
        (
            "dump-truncated-exit-0",
            "mongodump's archive cut short (its first 20 kB) and exit 0",
            '"$REAL" "$@" | head -c 20000',
            "DUMP_INVALID",
        ),
        (
            "dump-not-an-archive-exit-0",
            "a mongodump that writes text, not an archive, and exits 0",
            "echo 'this is not an archive'",
            "DUMP_INVALID",
        ),
    ],
    ids=["truncated", "not-an-archive"],
)
def test_a_dump_that_exits_0_but_is_not_a_whole_archive_is_refused(
    env: dict[str, str], mongo_tools: Path, tmp_path: Path, s3: Any, bucket: str,
    ses_endpoint: str, row_id: str, fault: str, body: str, code: str,
) -> None:  # fmt: skip
    broken = {
        **env,
        "MONGODUMP_PATH": _stand_in(tmp_path, mongo_tools, body),
        "BACKUP_COMPRESS": "false",
    }

    error = _refused(row_id, fault, env, broken, s3, bucket, ses_endpoint, code=code)

    assert "not stored" in error["message"]


def test_a_timestamp_in_the_future_is_refused_and_deletes_nothing(
    env: dict[str, str], s3: Any, bucket: str
) -> None:
    before = _good_backup(env, s3, bucket)
    ahead = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    completed = run_cli(["run", "--json", "--timestamp", ahead], env)

    after = contents(s3, bucket)
    MATRIX.record(
        "timestamp-in-the-future",
        Row(
            fault="`run --timestamp` one hour ahead of the clock, retention of one",
            injected=1,
            expected="usage error, exit 2, before any dump; nothing stored or deleted",
            observed=f"exit {completed.returncode}; {len(after)} object(s), as before",
            failed_cleanly=int(completed.returncode == 2 and after == before),
            bytes_lost=lost_since(before, after),
            orphaned_uploads=open_uploads(s3, bucket),
            false_successes=int(completed.returncode == 0),
            good_backups_lost=lost_count(before, after) // 2,
        ),
    )
    assert completed.returncode == 2, completed.stdout + completed.stderr[-3000:]
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "CONFIG_ERROR"
    assert "in the future" in error["message"]
    assert after == before


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+00:00"])
def test_timestamps_outside_the_usable_years_are_usage_errors(
    env: dict[str, str], stamp: str
) -> None:
    completed = run_cli(["run", "--json", "--timestamp", stamp], env)

    assert completed.returncode == 2, completed.stdout + completed.stderr[-3000:]
    assert json.loads(completed.stdout)["error"]["code"] == "CONFIG_ERROR"
    assert "Traceback" not in completed.stderr


def test_one_backup_per_set_and_second_whatever_the_suffix(
    env: dict[str, str], s3: Any, bucket: str
) -> None:
    before = _good_backup(env, s3, bucket)

    again = run_cli(["run", "--json", "--no-compress", "--timestamp", GOOD_AT], env)

    assert again.returncode == 1, again.stdout + again.stderr[-3000:]
    error = json.loads(again.stdout)["error"]
    assert error["code"] == "ALREADY_EXISTS"
    assert [k for k in before if not k.endswith(".json")] == [
        k for k in error["details"]["existing"] if not k.endswith(".json")
    ]
    assert contents(s3, bucket) == before


def _mongodumps(marker: str) -> list[int]:
    """The mongodump processes this run started: the machine may run other people's, so each is
    known by a unique directory on the PATH the run passes to its child."""
    found = subprocess.run(["pgrep", "-x", "mongodump"], capture_output=True, text=True)
    ours = []
    for pid in found.stdout.split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:  # gone since pgrep saw it
            continue
        if marker.encode() in environ:
            ours.append(int(pid))
    return ours


def test_a_dump_stuck_before_its_first_byte_is_stopped_at_the_deadline(
    backup_env: dict[str, str], fault_db: FaultDb, ses_endpoint: str, s3: Any, bucket: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    # listCollections held by the server: mongodump connects, then writes nothing at all.
    env = {
        **with_mail(backup_env, ses_endpoint, "stuck"),
        "MONGO_URI": b64(fault_db.uri),
        "MONGODUMP_NS_INCLUDE": f"{fault_db.dataset('tiny')}.*",
        "TMPDIR": str(tmp_path),
    }
    marker = str(tmp_path / f"marker-{uuid.uuid4().hex}")
    env["PATH"] = f"{marker}:{os.environ.get('PATH', '')}"

    with fault_db.fail_point(mode="alwaysOn", data=HOLD_LISTING):
        started = time.monotonic()
        completed = run_cli(["run", "--json", "--timeout", "3"], env, timeout=120)
        elapsed = time.monotonic() - started

    mails = moto_sent(ses_endpoint, "[BackupNimbus] Backup failed: stuck")
    orphans = _mongodumps(marker)
    left_in_tmp = sorted(p.name for p in tmp_path.iterdir())
    MATRIX.record(
        "dump-stuck-before-first-byte",
        Row(
            fault="`run --timeout 3` while listCollections is held for 60 s (fail point): "
            "mongodump never writes its first byte",
            injected=1,
            expected="TIMEOUT at the deadline, exit 1; mongodump killed and reaped; failure "
            "e-mail; nothing stored, nothing left in the temp dir",
            observed=f"exit {completed.returncode}"
            + (" within the deadline's grace; " if elapsed < 20 else " late; ")
            + f"{len(orphans)} mongodump left; {len(mails)} failure e-mail(s); "
            f"{len(left_in_tmp)} file(s) in the temp dir",
            failed_cleanly=int(completed.returncode == 1 and not orphans and not left_in_tmp),
            orphaned_uploads=open_uploads(s3, bucket),
            false_successes=int(completed.returncode == 0),
        ),
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr[-3000:]
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "TIMEOUT"
    assert elapsed < 20, "the deadline counts from the start, not from the first byte"
    assert orphans == [], "mongodump must die with the run"
    assert left_in_tmp == [], "nothing, the URI above all, may be left on disk"
    assert len(mails) == 1
    assert "TIMEOUT" in mails[0].body
    assert 'BackupSuccess": 0' in completed.stderr, "the failure is counted in the metric"
    assert contents(s3, bucket) == {}


def test_a_dump_that_leaves_something_out_is_stored_as_partial_and_never_counts(
    env: dict[str, str], mongo_tools: Path, tmp_path: Path, s3: Any, bucket: str,
    ses_endpoint: str,
) -> None:  # fmt: skip
    before = _good_backup(env, s3, bucket)
    # mongodump exits 0 after reporting a collection it could not read, as it does for one the
    # user may not read: forced here, since the real one needs a server with finer roles.
    skipping = _stand_in(
        tmp_path, mongo_tools,
        '"$REAL" "$@" || exit $?\n'
        "printf '2025-04-08T10:15:31.000+0000\\tFailed: error reading collection shop.secret: "
        "(Unauthorized) not authorized on shop to execute command\\n' >&2",
    )  # fmt: skip
    name = env["BACKUP_NAME"]

    partial = run_cli(
        ["run", "--json", "--timestamp", LATER_AT], {**env, "MONGODUMP_PATH": skipping}
    )

    after = contents(s3, bucket)
    incomplete = moto_sent(ses_endpoint, f"[BackupNimbus] Backup incomplete: {name}")
    succeeded = moto_sent(ses_endpoint, f"[BackupNimbus] Backup succeeded: {name}")
    MATRIX.record(
        "dump-partial-exit-0",
        Row(
            fault="mongodump reports a collection it could not read (Unauthorized) and exits 0",
            injected=1,
            expected="stored as partial (manifest says so, with the warning), exit 3, "
            '"Backup incomplete" e-mail; never --latest, never counted by retention',
            observed=f"exit {partial.returncode}; {len(incomplete)} incomplete e-mail(s); "
            f"{len(before) - lost_count(before, after)} of {len(before)} earlier object(s) kept",
            survived=int(partial.returncode == 3),
            bytes_lost=lost_since(before, after),
            orphaned_uploads=open_uploads(s3, bucket),
            false_successes=int(partial.returncode == 0) + len(succeeded) - 1,
            good_backups_lost=lost_count(before, after) // 2,
        ),
    )
    assert partial.returncode == 3, partial.stdout + partial.stderr[-3000:]
    error = json.loads(partial.stdout)["error"]
    assert error["code"] == "PARTIAL_BACKUP"
    manifest = error["details"]["backup"]["manifest"]
    assert manifest["status"] == "partial"
    assert any("Unauthorized" in warning for warning in manifest["warnings"])
    assert lost_count(before, after) == 0, "retention of one kept the last complete backup"
    assert len(incomplete) == 1
    assert "Unauthorized" in incomplete[0].body
    assert len(succeeded) == 1, "only the complete backup was mailed as a success"
    latest = run_cli(["verify", "--latest", "--json"], env)
    assert latest.returncode == 0, latest.stdout + latest.stderr[-2000:]
    assert "20250407T101530Z" in json.loads(latest.stdout)["key"], "--latest skips the partial"
    listed = json.loads(run_cli(["list", "--json"], env).stdout)["backups"]
    assert [b["status"] for b in listed] == ["partial", "complete"]
    key = error["details"]["backup"]["key"]
    dry = run_cli(
        ["restore", key, "--dry-run", "--json"], {**env, "RESTORE_TARGET_URI": env["MONGO_URI"]}
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr[-2000:]
    assert json.loads(dry.stdout)["backup_status"] == "partial", "a restore says it is partial"
