"""Bad input, table-driven: malformed environments, Lambda events and command lines, and corrupt
archives given to `verify --file` and `restore --file`.

Every case must end in one clean JSON error document with the right code and exit code, naming
what was wrong, with no traceback and nothing written: no backup in the store, no document in
the restore target. tests/e2e/test_config.py holds the first table of bad environments; this one
adds to it rather than repeating it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from pymongo import MongoClient

from backupnimbus.entrypoints.lambda_handler import InvocationFailedError, make_handler
from tests.support.cli import b64, run_cli
from tests.support.config_samples import GOOD, PLANTED
from tests.support.servers import Secantus, start_secantus
from tests.support.testdata import TESTDATA

MULTI_DB = "mongodump-100.8.0__multi-db.archive"
MULTI_DB_GZ = "mongodump-100.8.0__multi-db.archive.gz"
USERS = "mongodump-100.8.0__shop.users.archive"
SYSTEM_DATABASES = {"admin", "config", "local"}


@attrs.frozen
class Case:
    id: str
    kind: str
    """env: `run` under this environment; event: the Lambda handler; cli: these arguments;
    verify / restore: `verify --file` / `restore --file` of a corrupt copy of a test archive."""
    given: Any
    complaint: str | tuple[str, ...]
    """What the error document must say (in its message or problems); each, when several."""
    exit_code: int = 2
    code: str = "CONFIG_ERROR"


def env_case(id: str, env: Mapping[str, str], complaint: str) -> Case:
    return Case(id, "env", {**GOOD, **env}, complaint)


def event_case(id: str, event: Any, complaint: str | tuple[str, ...]) -> Case:
    return Case(id, "event", event, complaint)


def cli_case(id: str, args: list[str], complaint: str | tuple[str, ...]) -> Case:
    return Case(id, "cli", args, complaint)


def corrupt(source: str, damage: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    """A copy of a test archive, damaged; the original stays byte-identical."""

    def make(directory: Path) -> Path:
        copy = directory / f"damaged-{source.rpartition('/')[2]}"
        shutil.copyfile(TESTDATA / source, copy)
        copy.write_bytes(damage(copy.read_bytes()))
        return copy

    return make


def flip(at: float) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        index = int(len(data) * at)
        return data[:index] + bytes([data[index] ^ 0xFF]) + data[index + 1 :]

    return damage


def cut(keep: float) -> Callable[[bytes], bytes]:
    return lambda data: data[: int(len(data) * keep)]


def file_case(id: str, kind: str, make: Callable[[Path], Path], complaint: str) -> Case:
    return Case(id, kind, make, complaint, exit_code=1, code="VERIFY_ERROR")


CASES = [
    # Environments (tests/e2e/test_config.py has the first eighteen)
    env_case(
        "retention-negative",
        {"RETENTION_KEEP_DAILY": "-1"},
        "RETENTION_KEEP_DAILY must be a whole number",
    ),
    env_case(
        "retention-word",
        {"RETENTION_KEEP_WEEKLY": "two"},
        "RETENTION_KEEP_WEEKLY must be a whole number",
    ),
    env_case(
        "notify-on-success",
        {"NOTIFY_ON_SUCCESS": "sometimes"},
        "NOTIFY_ON_SUCCESS must be true or false",
    ),
    env_case(
        "restore-target-http",
        {"RESTORE_TARGET_URI": b64("http://db:27017")},
        "RESTORE_TARGET_URI must decode to a URI starting with mongodb://",
    ),
    env_case(
        "bucket-too-short",
        {"AWS_S3_BUCKET_NAME": b64("ab")},
        "AWS_S3_BUCKET_NAME must decode to a valid S3 bucket name",
    ),
    env_case(
        "bucket-double-dot",
        {"AWS_S3_BUCKET_NAME": b64("my..bucket")},
        "AWS_S3_BUCKET_NAME must decode to a valid S3 bucket name",
    ),
    env_case("uri-blank", {"MONGO_URI": b64("   ")}, "MONGO_URI decodes to an empty value"),
    env_case(
        "uri-not-utf8", {"MONGO_URI": "//79/g=="}, "MONGO_URI is not valid base64-encoded UTF-8"
    ),
    env_case("name-too-long", {"BACKUP_NAME": "n" * 129}, "BACKUP_NAME must be letters, digits"),
    env_case("log-level-empty", {"LOG_LEVEL": ""}, "LOG_LEVEL is set but empty"),
    env_case("node-env-unknown", {"NODE_ENV": "qa"}, "NODE_ENV must be one of development"),
    env_case(
        "ns-include-no-dot",
        {"MONGODUMP_NS_INCLUDE": "shop"},
        "MONGODUMP_NS_INCLUDE must look like 'db.*'",
    ),
    env_case(
        "ns-include-inner-star",
        {"MONGODUMP_NS_INCLUDE": "shop.us*rs"},
        "'*' only as the whole collection",
    ),
    env_case(
        "ns-exclude-alone",
        {"MONGODUMP_NS_EXCLUDE": "other.x"},
        "MONGODUMP_NS_EXCLUDE pattern 'other.x'",
    ),
    env_case("prefix-dot-dot", {"BACKUP_PREFIX": "x/../"}, "BACKUP_PREFIX must not hold"),
    env_case("prefix-empty-segment", {"BACKUP_PREFIX": "a//"}, "BACKUP_PREFIX must not hold"),
    env_case("prefix-dot", {"BACKUP_PREFIX": "./backups"}, "BACKUP_PREFIX must not hold"),
    env_case(
        "prefix-leading-slash", {"BACKUP_PREFIX": "/backups/"}, "BACKUP_PREFIX must not start"
    ),
    env_case(
        "prefix-key-too-long",
        {"BACKUP_PREFIX": "p/" * 480, "BACKUP_NAME": "n" * 40},
        "S3 allows at most 1024",
    ),
    env_case(
        "prefix-segment-too-long-locally",
        {"BACKUP_PREFIX": "p" * 300},
        "BACKUP_PREFIX segments must be at most 255 bytes for the local store",
    ),
    env_case(
        "storage-backend-unknown",
        {"STORAGE_BACKEND": "ftp"},
        "STORAGE_BACKEND='ftp' names no installed storage backend",
    ),
    env_case(
        "secret-key-alone",
        {"AWS_SECRET_ACCESS_KEY": b64(PLANTED)},
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together",
    ),
    # Lambda events, through the handler (parse_event's own table is in test_lambda_handler.py)
    event_case("event-string", "backup please", "the event must be a JSON object, not str"),
    event_case("event-number", 42, "the event must be a JSON object, not int"),
    event_case("event-action-null", {"action": None}, "action must be one of"),
    event_case("event-action-case", {"action": "BACKUP"}, "action must be one of"),
    event_case("event-action-restore", {"action": "restore"}, "action must be one of"),
    event_case("event-name-number", {"name": 123}, "name: expected"),
    event_case("event-name-empty", {"name": ""}, "name: expected"),
    event_case("event-compress-number", {"compress": 1}, "compress must be true or false"),
    event_case("event-timestamp-word", {"timestamp": "yesterday"}, "timestamp must be an ISO 8601"),
    event_case(
        "event-timestamp-list", {"timestamp": ["2025-04-07"]}, "timestamp must be an ISO 8601"
    ),
    event_case(
        "event-timestamp-before-1970",
        {"timestamp": "1969-12-31T23:59:59Z"},
        "timestamp must be between 1970 and 9999",
    ),
    event_case(
        "event-timestamp-underflow",
        {"timestamp": "0001-01-01T00:00:00+14:00"},
        "timestamp must be between 1970 and 9999",
    ),
    event_case(
        "event-timestamp-overflow",
        {"timestamp": "9999-12-31T23:30:00-05:00"},
        "timestamp must be between 1970 and 9999",
    ),
    event_case(
        "event-timestamp-bad-offset",
        {"timestamp": "2025-04-07T10:15:30+25:00"},
        "timestamp must be an ISO 8601",
    ),
    event_case(
        "event-key-number", {"action": "verify", "key": 7}, "key must be a non-empty string"
    ),
    event_case(
        "event-key-empty", {"action": "verify", "key": ""}, "key must be a non-empty string"
    ),
    event_case(
        "event-nested-unknown",
        {"name": "x", "extra": {"deep": [1, {"x": None}]}},
        "unknown field(s) ['extra']",
    ),
    event_case("event-huge", {"padding": "x" * 100_000}, "at most 65536 allowed"),
    event_case(
        "event-every-problem",
        {"action": "explode", "compress": "no"},
        ("action must be one of", "compress must be true or false"),
    ),
    event_case("event-compression-unknown", {"compression": "lz4"}, "compression must be one of"),
    event_case(
        "event-random-within-days-negative",
        {"action": "drill", "random_within_days": -1},
        "random_within_days must be a number of days above 0",
    ),
    event_case(
        "event-key-and-random-within-days",
        {"action": "drill", "key": "backups/x.archive", "random_within_days": 3},
        "give key or random_within_days, not both",
    ),
    # Command lines
    cli_case("cli-no-command", [], "the following arguments are required: COMMAND"),
    cli_case("cli-unknown-command", ["backup"], "invalid choice: 'backup'"),
    cli_case("cli-timestamp-word", ["run", "--timestamp", "yesterday"], "not an ISO 8601 time"),
    cli_case(
        "cli-timestamp-before-1970",
        ["run", "--timestamp", "1969-12-31T23:59:59Z"],
        "argument --timestamp: outside the years 1970 to 9999",
    ),
    cli_case(
        "cli-timestamp-underflow",
        ["run", "--timestamp", "0001-01-01T00:00:00+14:00"],
        "argument --timestamp: outside the years 1970 to 9999",
    ),
    cli_case(
        "cli-timestamp-overflow",
        ["run", "--timestamp", "9999-12-31T23:30:00-05:00"],
        "argument --timestamp: outside the years 1970 to 9999",
    ),
    cli_case(
        "cli-timestamp-year-zero",
        ["run", "--timestamp", "0000-01-01T00:00:00Z"],
        "argument --timestamp: not an ISO 8601 time",
    ),
    cli_case("cli-name-path", ["run", "--name", "../etc"], "invalid name '../etc'"),
    cli_case(
        "cli-timeout-zero", ["run", "--timeout", "0"], "not a positive number of seconds: '0'"
    ),
    cli_case("cli-timeout-word", ["run", "--timeout", "soon"], "not a positive number of seconds"),
    cli_case("cli-timeout-nan", ["run", "--timeout", "nan"], "not a positive number of seconds"),
    cli_case("cli-unknown-option", ["run", "--bogus"], "unrecognized arguments: --bogus"),
    cli_case(
        "cli-verify-two-targets", ["verify", "some/key", "--latest"], "not allowed with argument"
    ),
    cli_case("cli-verify-nothing", ["verify"], "verify needs a KEY, --latest or --file PATH"),
    cli_case(
        "cli-verify-missing-file",
        ["verify", "--file", "/nonexistent/a.archive"],
        "/nonexistent/a.archive: cannot read it (No such file or directory)",
    ),
    cli_case("cli-restore-no-source", ["restore"], "one of the arguments"),
    cli_case(
        "cli-restore-http-target",
        ["restore", "--file", "x.archive", "--target-uri", "http://db"],
        "--target-uri must start with mongodb://",
    ),
    cli_case(
        "cli-restore-half-rename",
        ["restore", "--latest", "--ns-from", "a.*", "--target-uri", "mongodb://127.0.0.1:1/"],
        "--ns-from and --ns-to must be given together",
    ),
    cli_case(
        "cli-restore-replay-half-rename-include",
        [
            "restore",
            "--latest",
            "--oplog-replay",
            "--ns-to",
            "b.*",
            "--ns-include",
            "a.*",
            "--target-uri",
            "mongodb://127.0.0.1:1/",
        ],
        (
            "--ns-from and --ns-to must be given together",
            "--oplog-replay cannot be combined with --ns-from/--ns-to",
            "--oplog-replay cannot be combined with --ns-include",
        ),
    ),
    cli_case(
        "cli-prune-negative",
        ["prune", "--keep-daily", "-1"],
        "expected a whole number of 0 or more",
    ),
    cli_case(
        "cli-notify-no-message",
        ["notify", "--subject", "hello"],
        "the following arguments are required: --message",
    ),
    # Corrupt archives: verify --file
    file_case(
        "verify-truncated",
        "verify",
        corrupt(MULTI_DB, cut(0.5)),
        "truncated in the middle of a document",
    ),
    file_case(
        "verify-flipped-byte",
        "verify",
        corrupt(MULTI_DB, flip(0.5)),
        "CRC mismatch in namespace 'shop.orders'",
    ),
    file_case("verify-empty", "verify", corrupt(MULTI_DB, cut(0)), "Invalid archive"),
    file_case(
        "verify-magic-only", "verify", corrupt(MULTI_DB, lambda data: data[:4]), "Invalid archive"
    ),
    file_case(
        "verify-gzip-truncated",
        "verify",
        corrupt(MULTI_DB_GZ, cut(0.5)),
        "the gzip stream is truncated",
    ),
    file_case("verify-gzip-flipped", "verify", corrupt(MULTI_DB_GZ, flip(0.5)), "Invalid archive"),
    file_case(
        "verify-bad-prelude",
        "verify",
        corrupt("mongo-tools/mongorestore__bad-format.archive", lambda d: d),
        "Invalid archive",
    ),
    file_case(
        "verify-random-bytes",
        "verify",
        corrupt("mongo-tools/bsondump__random_bytes.bson", lambda d: d),
        "is not a mongodump archive",
    ),
    # Corrupt archives: restore --file must check first, and write nothing
    file_case(
        "restore-truncated",
        "restore",
        corrupt(MULTI_DB, cut(0.5)),
        "truncated in the middle of a document",
    ),
    file_case("restore-flipped-late", "restore", corrupt(MULTI_DB, flip(0.998)), "CRC mismatch"),
    file_case(
        "restore-gzip-truncated",
        "restore",
        corrupt(MULTI_DB_GZ, cut(0.6)),
        "the gzip stream is truncated",
    ),
    file_case(
        "restore-bad-prelude",
        "restore",
        corrupt("mongo-tools/mongorestore__bad-format.archive", lambda d: d),
        "Invalid archive",
    ),
    file_case("restore-users-truncated", "restore", corrupt(USERS, cut(0.9)), "Invalid archive"),
]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secantus]:
    """A restore target of its own, so that anything written to it shows."""
    server = start_secantus(tmp_path_factory.mktemp("restore-target") / "data")
    yield server
    server.stop()


def databases(uri: str) -> dict[str, dict[str, int]]:
    with MongoClient[dict[str, Any]](uri) as client:
        return {
            name: {c: db[c].count_documents({}) for c in db.list_collection_names()}
            for name in client.list_database_names()
            if name not in SYSTEM_DATABASES
            for db in [client[name]]
        }


def error_document(text: str) -> dict[str, Any]:
    """The one JSON error document: the last line of the stream it was printed to."""
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    assert lines, f"no JSON document in {text!r}"
    document: dict[str, Any] = json.loads(lines[-1])["error"]
    return document


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_gets_a_clean_error(
    case: Case, request: pytest.FixtureRequest, tmp_path: Path, mongo_tools: Path
) -> None:
    store = tmp_path / "store"
    base = {"STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(store),
            "MONGODUMP_PATH": str(mongo_tools / "mongodump")}  # fmt: skip
    if case.kind == "event":
        handler = make_handler({**GOOD, **base})
        with pytest.raises(InvocationFailedError) as raised:
            handler(case.given, None)
        document = json.loads(str(raised.value))["error"]
        output = str(raised.value)
    elif case.kind == "env":
        completed = run_cli(["run"], {**base, **case.given})
        document, output = error_document(completed.stderr), completed.stdout + completed.stderr
        assert completed.returncode == case.exit_code, output
    elif case.kind == "cli":
        completed = run_cli(case.given, base)
        document, output = error_document(completed.stderr), completed.stdout + completed.stderr
        assert completed.returncode == case.exit_code, output
    else:
        damaged = case.given(tmp_path)
        args = ["verify", "--json", "--file", str(damaged)]
        before: dict[str, dict[str, int]] = {}
        if case.kind == "restore":
            uri = request.getfixturevalue("target").uri
            before = databases(uri)
            args = ["restore", "--json", "--file", str(damaged), "--target-uri", uri]
        completed = run_cli(args, base)
        document, output = error_document(completed.stdout), completed.stdout + completed.stderr
        assert completed.returncode == case.exit_code, output
        if case.kind == "restore":
            assert databases(uri) == before, "a corrupt archive wrote to the target"
            assert "nothing was restored" in document["message"]
    assert document["code"] == case.code, document
    said = document["message"] + " " + " ".join(document["details"].get("problems", []))
    complaints = (case.complaint,) if isinstance(case.complaint, str) else case.complaint
    for complaint in complaints:
        assert complaint in said, said
    assert set(document) == {"code", "message", "timestamp", "details"}
    assert "Traceback" not in output
    assert PLANTED not in output
    assert not store.exists() or not any(store.rglob("*")), "nothing may be stored"


def test_an_intact_local_archive_still_restores(target: Secantus, mongo_tools: Path) -> None:
    """The check before writing must not stand in the way of a good archive."""
    env = {"MONGODUMP_PATH": str(mongo_tools / "mongodump")}
    args = ["restore", "--json", "--file", str(TESTDATA / USERS), "--target-uri", target.uri,
            "--ns-from", "shop.*", "--ns-to", "intact_shop.*"]  # fmt: skip

    completed = run_cli(args, env)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert json.loads(completed.stdout)["namespaces"] == {"intact_shop.users": 200}
    assert databases(target.uri)["intact_shop"] == {"users": 200}
