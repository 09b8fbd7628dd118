"""Plugins: a real distribution, built and installed, adds a storage backend the core selects."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pymongo import MongoClient

from tests.conftest import run_cli
from tests.support.servers import Secantus

PLUGIN_MODULE = '''
from __future__ import annotations

import os
from pathlib import Path

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


def _install(tmp_path: Path, name: str, module_source: str) -> Path:
    """Builds the distribution from source and installs it into a target directory."""
    source = tmp_path / f"{name}-src"
    (source / name).mkdir(parents=True)
    (source / name / "__init__.py").write_text(textwrap.dedent(module_source))
    (source / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{name}"
        version = "1.0"

        [project.entry-points."backupnimbus.plugins"]
        {name} = "{name}:register"

        [tool.setuptools]
        packages = ["{name}"]
        """)
    )
    target = tmp_path / f"{name}-site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    assert list(target.glob(f"{name}-1.0.dist-info/entry_points.txt"))
    return target


def test_plugin_storage_backend_is_selected_and_used(
    tmp_path: Path, backup_env: dict[str, str], secantus: Secantus, database: str
) -> None:
    site = _install(tmp_path, "spoolplugin", PLUGIN_MODULE)
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
    site = _install(tmp_path, "spoolplugin", PLUGIN_MODULE)
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
    site = _install(tmp_path, "brokenplugin", source)

    completed = run_cli(["run"], {**backup_env, "PYTHONPATH": str(site)})

    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    document = json.loads(completed.stderr.strip().splitlines()[-1])
    message = document["error"]["message"]
    assert "plugin 'brokenplugin'" in message
    assert "brokenplugin:register" in message
    assert reason in message
