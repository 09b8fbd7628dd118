"""Plugins: real distributions, built and installed, add backends the core selects, replace
ports whatever the configuration says, and are initialized and closed around every command."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from backupnimbus.entrypoints.lambda_handler import make_handler
from tests.support.cli import b64, run_cli
from tests.support.plugins import install_module
from tests.support.servers import Secantus

PLUGIN_MODULE = '''
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from backupnimbus.adapters.local_store import LocalDirectoryStore


class SpoolStore(LocalDirectoryStore):
    """Stores like the local store, and keeps a ledger of what it wrote."""

    def __init__(self, root: Path) -> None:
        super().__init__(root=root)
        self._ledger = root / "ledger.txt"

    def put_stream(self, *, key, stream):
        super().put_stream(key=key, stream=stream)
        self._note(key)

    def put_bytes(self, *, key, data):
        super().put_bytes(key=key, data=data)
        self._note(key)

    def _note(self, key):
        with self._ledger.open("a") as ledger:
            ledger.write(key + "\\n")


class FileMailer:
    """Delivers each e-mail as a line in a file, as a chat or pager integration would post it."""

    def send(self, *, email):
        with Path(os.environ["MAIL_FILE"]).open("a") as inbox:
            inbox.write(email.subject + " | " + email.text.replace("\\n", " ") + "\\n")


def register(registry):
    registry.add_storage_backend("spool", lambda config: SpoolStore(Path(os.environ["SPOOL_DIR"])))
    registry.add_mailer_backend("file", lambda config: FileMailer())
'''


HOOKED_MODULE = (
    PLUGIN_MODULE.split("\n\ndef register(registry):")[0]
    + """

from backupnimbus.ports.mailer import Mailer
from backupnimbus.ports.object_store import ObjectStore


def _event(text):
    with Path(os.environ["PLUGIN_EVENTS"]).open("a") as events:
        events.write(text + "\\n")


def register(registry):
    # No STORAGE_BACKEND or MAILER_BACKEND names these: they replace the ports outright.
    registry.replace(ObjectStore, lambda config: SpoolStore(Path(os.environ["SPOOL_DIR"])))
    registry.replace(Mailer, lambda config: FileMailer())


def initialize(config):
    _event("initialize " + config.backup_name)


def close():
    _event("close")
"""
)


def test_plugin_storage_backend_is_selected_and_used(
    tmp_path: Path, backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    site = install_module(tmp_path, "spoolplugin", PLUGIN_MODULE)
    spool = tmp_path / "spool"
    spool.mkdir()
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(20))
    env = {**backup_env, "PYTHONPATH": str(site), "STORAGE_BACKEND": "spool",
           "SPOOL_DIR": str(spool), "MONGODUMP_NS_INCLUDE": f"{database}.*"}  # fmt: skip

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert (spool / result["key"]).is_file()
    assert (spool / "ledger.txt").read_text().splitlines() == [
        result["key"],
        result["manifest_key"],
    ]


def test_plugin_mailer_is_selected_and_receives_the_outcome(
    tmp_path: Path, backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    site = install_module(tmp_path, "spoolplugin", PLUGIN_MODULE)
    inbox = tmp_path / "inbox.txt"
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(5))
    env = {**backup_env, "PYTHONPATH": str(site), "NOTIFICATIONS_ENABLED": "true",
           "MAILER_BACKEND": "file", "MAIL_FILE": str(inbox),
           "MONGODUMP_NS_INCLUDE": f"{database}.*"}  # fmt: skip

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["notification"] == {"sent": True, "error": None}
    [line] = inbox.read_text().splitlines()
    assert line.startswith("[BackupNimbus] Backup succeeded")
    assert result["key"] in line


def test_plugin_replaces_the_store_and_the_mailer_and_is_opened_and_closed(
    tmp_path: Path, backup_env: dict[str, str], secantus: Secantus, database: str, s3: Any,
    bucket: str,
) -> None:  # fmt: skip
    # The entry point names the module: its register, initialize and close are all found.
    site = install_module(tmp_path, "hookplugin", HOOKED_MODULE, entry_point="hookplugin")
    spool, inbox, events = tmp_path / "spool", tmp_path / "inbox.txt", tmp_path / "events.txt"
    spool.mkdir()
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(5))
    # Configured for S3 and SES: without the plugin the backup would land in the bucket, and
    # the mail would go to SES, which has never verified this sender.
    env = {**backup_env, "PYTHONPATH": str(site), "NOTIFICATIONS_ENABLED": "true",
           "NOTIFICATION_SENDER_EMAIL": b64("unverified@example.com"),
           "NOTIFICATION_RECIPIENTS": b64("ops@example.com"),
           "SPOOL_DIR": str(spool), "MAIL_FILE": str(inbox), "PLUGIN_EVENTS": str(events),
           "BACKUP_NAME": "nightly", "MONGODUMP_NS_INCLUDE": f"{database}.*"}  # fmt: skip

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert (spool / result["key"]).is_file()
    assert (spool / "ledger.txt").read_text().splitlines() == [
        result["key"],
        result["manifest_key"],
    ]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert result["notification"] == {"sent": True, "error": None}
    [line] = inbox.read_text().splitlines()
    assert line.startswith("[BackupNimbus] Backup succeeded: nightly")
    assert result["key"] in line
    assert events.read_text().splitlines() == ["initialize nightly", "close"]


def test_lambda_closes_the_plugins_after_each_invocation(
    tmp_path: Path, backup_env: dict[str, str], secantus: Secantus, database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    site = install_module(
        tmp_path, "lambdahookplugin", HOOKED_MODULE, entry_point="lambdahookplugin"
    )
    monkeypatch.syspath_prepend(str(site))
    spool, events = tmp_path / "spool", tmp_path / "events.txt"
    spool.mkdir()
    for name, value in {"SPOOL_DIR": str(spool), "MAIL_FILE": str(tmp_path / "inbox.txt"),
                        "PLUGIN_EVENTS": str(events)}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(5))
    handler = make_handler(
        {**backup_env, "BACKUP_NAME": "nightly", "MONGODUMP_NS_INCLUDE": f"{database}.*"}
    )

    first = handler({"name": "one"}, None)
    second = handler({"name": "two"}, None)

    assert (spool / first["key"]).is_file()
    assert (spool / second["key"]).is_file()
    # One container for the warm environment, opened and closed around each invocation.
    assert events.read_text().splitlines() == ["initialize nightly", "close"] * 2


def test_plugins_command_lists_what_each_plugin_registers(tmp_path: Path) -> None:
    hooked = install_module(tmp_path, "hookplugin", HOOKED_MODULE, entry_point="hookplugin")
    spool = install_module(tmp_path, "spoolplugin", PLUGIN_MODULE)
    # No configuration at all: listing needs none.
    env = {"PYTHONPATH": f"{hooked}{os.pathsep}{spool}"}

    listed = run_cli(["plugins", "--json"], env)
    text = run_cli(["plugins"], env)

    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["plugins"] == [
        {"name": "hookplugin", "entry_point": "hookplugin", "distribution": "hookplugin",
         "version": "1.0", "storage_backends": [], "mailer_backends": [], "dump_backends": [],
         "replaces": ["Mailer", "ObjectStore"], "hooks": ["initialize", "close"]},
        {"name": "spoolplugin", "entry_point": "spoolplugin:register",
         "distribution": "spoolplugin", "version": "1.0", "storage_backends": ["spool"],
         "mailer_backends": ["file"], "dump_backends": [], "replaces": [], "hooks": []},
    ]  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "hookplugin  (hookplugin, hookplugin 1.0)" in text.stdout
    assert "  replaces: Mailer, ObjectStore" in text.stdout
    assert "  storage backends: spool" in text.stdout


def test_plugins_command_without_plugins_says_so() -> None:
    listed = run_cli(["plugins"], {})

    assert listed.returncode == 0, listed.stderr
    assert "No plugins installed" in listed.stdout
    assert "Built in: dump mongodump; storage local, s3; mailer log, ses" in listed.stdout


def test_unknown_backend_names_the_installed_ones(backup_env: dict[str, str]) -> None:
    completed = run_cli(["run"], {**backup_env, "STORAGE_BACKEND": "nowhere"})

    assert completed.returncode == 2
    assert "STORAGE_BACKEND='nowhere'" in completed.stderr
    assert "local, s3" in completed.stderr


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("raise RuntimeError('plugin exploded on import')\n", "plugin exploded on import"),
        ("def register(registry):\n    registry.nope()\n", "AttributeError"),
    ],
)
def test_broken_plugin_is_named_without_traceback(
    tmp_path: Path, backup_env: dict[str, str], source: str, reason: str
) -> None:
    site = install_module(tmp_path, "brokenplugin", source)

    completed = run_cli(["run"], {**backup_env, "PYTHONPATH": str(site)})

    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    document = json.loads(completed.stderr.strip().splitlines()[-1])
    message = document["error"]["message"]
    assert "plugin 'brokenplugin'" in message
    assert "brokenplugin:register" in message
    assert reason in message


EMPTY_DUMP_MODULE = """
import contextlib
import io


class EmptyDump(io.BytesIO):
    def namespaces(self):
        return {}

    def warnings(self):
        return ()

    def stop(self):
        pass


class EmptyRunner:
    def describe_tool(self):
        return "nothing 1.0"

    @contextlib.contextmanager
    def open_dump(self, *, stop):
        yield EmptyDump(b"")


def register(registry):
    registry.add_dump_backend("nothing", lambda config: EmptyRunner(), archive_format="raw")
"""


@pytest.mark.parametrize("allow_empty", ["false", "true"])
def test_an_empty_stream_from_a_dump_backend_is_never_stored(
    tmp_path: Path, allow_empty: str
) -> None:
    site = install_module(tmp_path, "emptyplugin", EMPTY_DUMP_MODULE)
    store = tmp_path / "store"
    env = {"PYTHONPATH": str(site), "DUMP_BACKEND": "nothing", "STORAGE_BACKEND": "local",
           "LOCAL_BACKUP_DIR": str(store), "ALLOW_EMPTY_BACKUP": allow_empty}  # fmt: skip

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 1
    error = json.loads(completed.stdout)["error"]
    assert error["code"] == "EMPTY_BACKUP"
    assert "no byte" in error["message"]
    assert not [p for p in store.rglob("*") if p.is_file()]


def test_a_mongodump_backup_records_its_format_and_old_manifests_still_read(
    tmp_path: Path, secantus: Secantus, database: str, mongo_tools: Path
) -> None:
    MongoClient(secantus.uri)[database].things.insert_many({"n": n} for n in range(3))
    store = tmp_path / "store"
    env = {"MONGO_URI": b64(secantus.uri), "MONGODUMP_PATH": str(mongo_tools / "mongodump"),
           "STORAGE_BACKEND": "local", "LOCAL_BACKUP_DIR": str(store),
           "MONGODUMP_NS_INCLUDE": f"{database}.*"}  # fmt: skip

    completed = run_cli(["run", "--json"], env)

    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    manifest_path = store / result["manifest_key"]
    stored = json.loads(manifest_path.read_text())
    assert stored["format"] == "mongodump-archive"
    # A manifest written before the format was recorded: still read, as a mongodump archive.
    del stored["format"]
    manifest_path.write_text(json.dumps(stored))
    [record] = json.loads(run_cli(["list", "--json"], env).stdout)["backups"]
    assert (record["status"], record["format"]) == ("complete", "mongodump-archive")
    verified = run_cli(["verify", "--json", result["key"]], env)
    assert verified.returncode == 0, verified.stderr
    report = json.loads(verified.stdout)
    assert report["format"] == "mongodump-archive"
    assert report["namespaces"][f"{database}.things"]["documents"] == 3
